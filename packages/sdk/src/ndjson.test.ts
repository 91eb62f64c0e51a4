// NDJSON decoding: lines split across chunks (also inside UTF-8 characters), blank lines, a last
// line without newline, broken lines and in-stream error lines.
import { describe, expect, it } from "vitest";
import { SbxError } from "@sbx-sh/protocol";
import { ndjson } from "./ndjson.js";
import { collectResult, decodeEvents, exitStatus } from "./process.js";

async function* chunksOf(bytes: Buffer, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield new Uint8Array(bytes.subarray(i, i + size));
}

async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const v of it) out.push(v);
  return out;
}

describe("ndjson", () => {
  const values = [{ a: 1 }, { msg: "héllo ✓ €" }, { type: "exit", exitCode: 0 }];
  const text = Buffer.from(values.map((v) => JSON.stringify(v)).join("\n") + "\n");

  it.each([1, 2, 3, 5, 7, 64, 10_000])("decodes the same values whatever the chunk size (%i bytes)", async (size) => {
    expect(await all(ndjson(chunksOf(text, size)))).toEqual(values);
  });

  it("skips blank lines and keeps a last line without newline", async () => {
    const src = Buffer.from('\n{"x":1}\r\n\n   \n{"y":2}');
    expect(await all(ndjson(chunksOf(src, 4)))).toEqual([{ x: 1 }, { y: 2 }]);
  });

  it("throws SbxError on a broken line", async () => {
    await expect(all(ndjson(chunksOf(Buffer.from('{"x":1}\n{nope\n'), 3)))).rejects.toMatchObject({ code: "internal" });
  });

  it("turns an error line into the daemon's SbxError", async () => {
    const src = Buffer.from(
      '{"type":"stdout","data":""}\n{"error":{"code":"sandbox_not_running","message":"it stopped"}}\n',
    );
    const err = await all(ndjson(chunksOf(src, 5))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SbxError);
    expect(err).toMatchObject({ code: "sandbox_not_running", message: "it stopped" });
  });
});

describe("output events", () => {
  const b64 = (s: string | Buffer) => Buffer.from(s).toString("base64");

  it("decodes base64 chunks and keeps characters split across chunks whole", async () => {
    const euro = Buffer.from("€"); // 3 bytes, sent in two events
    const lines = [
      { type: "stdout", data: b64("a") },
      { type: "stdout", data: b64(euro.subarray(0, 1)) },
      { type: "stderr", data: b64("err") },
      { type: "mystery", data: "ignored by older clients" },
      { type: "stdout", data: b64(euro.subarray(1)) },
      { type: "exit", exitCode: 0, signal: null, timedOut: false },
    ];
    const seen: string[] = [];
    const src = Buffer.from(lines.map((l) => JSON.stringify(l)).join("\n"));
    const res = await collectResult(decodeEvents(ndjson(chunksOf(src, 4))), { onStdout: (t) => seen.push(t) });
    expect(res).toEqual({ exitCode: 0, stdout: "a€", stderr: "err", signal: null, timedOut: false });
    expect(seen).toEqual(["a", "€"]);
  });

  it("fails when the stream ends without an exit event", async () => {
    const src = Buffer.from(JSON.stringify({ type: "stdout", data: b64("x") }) + "\n");
    await expect(collectResult(decodeEvents(ndjson(chunksOf(src, 100))))).rejects.toThrow(/ended before it exited/);
  });

  it("maps a signal death to 128 + signal number", () => {
    expect(exitStatus({ exitCode: null, signal: "SIGKILL" })).toBe(137);
    expect(exitStatus({ exitCode: null, signal: "TERM" })).toBe(143);
    expect(exitStatus({ exitCode: 4, signal: null })).toBe(4);
  });
});
