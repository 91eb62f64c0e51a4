// The split of sbx's output chunks into the SDK's line events: lines wait for their newline per
// stream, a character split across chunks arrives whole, the exit flushes what is left, and a
// per-stream splitter drops the other stream.
import { describe, expect, it } from "vitest";
import { LineSplitter } from "./sse.js";

const chunk = (type: "stdout" | "stderr", data: Buffer | string) =>
  ({ type, data: Buffer.from(data).toString("base64") }) as const;
const exit = { type: "exit", exitCode: 0, signal: null, timedOut: false } as const;

describe("LineSplitter", () => {
  it("holds partial lines per stream until their newline or the exit", () => {
    const s = new LineSplitter();
    expect(s.push(chunk("stdout", "a\nb"))).toEqual([expect.objectContaining({ line: "a", stream: "stdout" })]);
    expect(s.push(chunk("stderr", "e1"))).toEqual([]);
    expect(s.push(chunk("stdout", "c\n")).map((l) => l.line)).toEqual(["bc"]);
    expect(s.push(exit).map((l) => [l.line, l.stream])).toEqual([["e1", "stderr"]]);
  });

  it("decodes a UTF-8 character split between chunks", () => {
    const s = new LineSplitter();
    const bytes = Buffer.from("é\n");
    expect(s.push(chunk("stdout", bytes.subarray(0, 1)))).toEqual([]);
    expect(s.push(chunk("stdout", bytes.subarray(1))).map((l) => l.line)).toEqual(["é"]);
  });

  it("keeps only its stream when asked", () => {
    const s = new LineSplitter("stderr");
    expect(s.push(chunk("stdout", "out\n"))).toEqual([]);
    expect(s.push(chunk("stderr", "err\n")).map((l) => l.line)).toEqual(["err"]);
  });
});
