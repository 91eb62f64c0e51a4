import { describe, expect, it } from "vitest";
import type { ProcessOutputEvent } from "../domain/records.js";
import { maskOutput, SecretMasker } from "./secret-mask.js";

/** Feeds `text` to a masker in the given cut points and answers what comes out. */
function through(values: string[], text: string, cuts: number[]): string {
  const m = new SecretMasker(values);
  const out: Buffer[] = [];
  let from = 0;
  for (const c of [...cuts, text.length]) {
    out.push(m.push(Buffer.from(text.slice(from, c))));
    from = c;
  }
  out.push(m.flush());
  return Buffer.concat(out).toString();
}

describe("SecretMasker", () => {
  it("masks every occurrence, wherever the chunks are cut", () => {
    const text = "token=hunter22 and again hunter22; hunter2 is not it";
    const want = "token=*** and again ***; hunter2 is not it";
    for (let a = 0; a <= text.length; a++)
      for (let b = a; b <= text.length; b += 3) expect(through(["hunter22"], text, [a, b])).toBe(want);
    // One byte at a time.
    expect(
      through(
        ["hunter22"],
        text,
        [...text].map((_, i) => i),
      ),
    ).toBe(want);
  });

  it("masks the longer of two values that share a start, even split before the longer one ends", () => {
    for (let c = 0; c <= 12; c++) expect(through(["abcd", "abcdefgh"], "xabcdefghy abcdz", [c])).toBe("x***y ***z");
  });

  it("holds back only what could begin a value, and hands it out at the end", () => {
    const m = new SecretMasker(["s3cret!"]);
    expect(m.push(Buffer.from("line one\ns3c")).toString()).toBe("line one\n");
    expect(m.flush().toString()).toBe("s3c");
    expect(new SecretMasker(["s3cret!"]).push(Buffer.from("plain")).toString()).toBe("plain");
  });

  it("leaves values too short to mask, and output without values, alone", () => {
    expect(through(["abc", ""], "abcabc", [2])).toBe("abcabc");
    expect(new SecretMasker([]).active).toBe(false);
  });

  it("masks binary-safe: multi-byte characters cut in the middle", () => {
    const v = "pässwörd";
    const bytes = Buffer.from(`<${v}>`);
    for (let c = 0; c <= bytes.length; c++) {
      const m = new SecretMasker([v]);
      const out = Buffer.concat([m.push(bytes.subarray(0, c)), m.push(bytes.subarray(c)), m.flush()]);
      expect(out.toString()).toBe("<***>");
    }
  });
});

describe("maskOutput", () => {
  it("masks stdout and stderr separately and flushes before the exit", async () => {
    const b64 = (s: string) => Buffer.from(s).toString("base64");
    async function* events(): AsyncGenerator<ProcessOutputEvent> {
      yield { type: "stdout", data: b64("A=sec") };
      yield { type: "stderr", data: b64("secret1") };
      yield { type: "stdout", data: b64("ret1\nB=secr") };
      yield { type: "exit", exitCode: 0, signal: null, timedOut: false };
    }
    const got: string[] = [];
    for await (const e of maskOutput(events(), ["secret1"]))
      got.push(e.type === "exit" ? "exit" : `${e.type}:${Buffer.from(e.data, "base64").toString()}`);
    expect(got).toEqual(["stdout:A=", "stderr:***", "stdout:***\nB=", "stdout:secr", "exit"]);
  });
});
