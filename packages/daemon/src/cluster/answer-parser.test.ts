// The exec relay's parser of a node's answer (answer-parser.ts), fed hostile bytes: a well-formed
// answer reads the same however it is split; oversized heads, bad or doubled framing, bad chunks,
// truncation and anything after the end are AnswerErrors; and a property check over thousands of
// seeded random mutations and splits of real answers: never another kind of error, never more body
// than the framing allowed, done at most once and only at the end, the same outcome for any split.
import { describe, expect, it } from "vitest";
import { AnswerError, AnswerParser, MAX_ANSWER_HEAD_BYTES, type AnswerHead } from "./answer-parser.js";

interface Outcome {
  head?: AnswerHead;
  body: string;
  done: number;
  error?: string;
}

/** Feeds `text` in pieces cut at `cuts`; what the parser made of it. */
function parse(text: string | Buffer, cuts: number[] = [], noBody = false): Outcome {
  const bytes = typeof text === "string" ? Buffer.from(text, "latin1") : text;
  const out: Outcome = { body: "", done: 0 };
  const p = new AnswerParser(
    {
      head: (h) => (out.head = h),
      data: (c) => {
        expect(out.done).toBe(0);
        out.body += c.toString("latin1");
      },
      done: () => out.done++,
    },
    noBody,
  );
  let at = 0;
  try {
    for (const cut of [...cuts.filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b), bytes.length]) {
      p.push(bytes.subarray(at, cut));
      at = cut;
    }
  } catch (err) {
    if (!(err instanceof AnswerError)) throw err;
    out.error = err.message;
  }
  return out;
}

const LENGTH = 'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nContent-Length: 14\r\n\r\n{"exitCode":0}';
const CHUNKED =
  'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nKeep-Alive: timeout=5\r\n\r\n7\r\n{"n":1}\r\n8;x=y\r\n\n{"n":2}\r\n0\r\nx-t: 1\r\n\r\n';

describe("a node's answer, well formed", () => {
  it("by content-length, split at every byte, reads the same", () => {
    const whole = parse(LENGTH);
    expect(whole).toMatchObject({ body: '{"exitCode":0}', done: 1 });
    expect(whole.head).toEqual({
      status: 200,
      headers: [
        ["content-type", "application/json"],
        ["content-length", "14"],
      ],
      keepAlive: true,
    });
    for (let i = 1; i < LENGTH.length; i++) expect(parse(LENGTH, [i])).toEqual(whole);
  });

  it("chunked (an extension, trailers dropped), split at every byte, reads the same; the keep-alive hint is read", () => {
    const whole = parse(CHUNKED);
    expect(whole).toMatchObject({ body: '{"n":1}\n{"n":2}', done: 1, head: { status: 200, idleSeconds: 5 } });
    for (let i = 1; i < CHUNKED.length; i++)
      for (const j of [i + 1, i + 7]) expect(parse(CHUNKED, [i, j])).toEqual(whole);
  });

  it("204, 304 and a HEAD call's answer have no body; connection: close is not kept alive", () => {
    expect(parse("HTTP/1.1 204 No Content\r\n\r\n")).toMatchObject({ body: "", done: 1 });
    expect(parse("HTTP/1.1 304 Not Modified\r\nconnection: close\r\n\r\n")).toMatchObject({
      done: 1,
      head: { keepAlive: false },
    });
    expect(parse("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n", [], true)).toMatchObject({ body: "", done: 1 });
    expect(parse("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")).toMatchObject({ body: "", done: 1 });
  });
});

describe("a node's answer, hostile", () => {
  const refused: Array<[string, string | Buffer]> = [
    ["a head past 16 KiB", `HTTP/1.1 200 OK\r\nx: ${"a".repeat(MAX_ANSWER_HEAD_BYTES)}\r\ncontent-length: 0\r\n\r\n`],
    ["a head that never ends", `HTTP/1.1 200 OK\r\n${"x: y\r\n".repeat(3000)}`],
    ["101 header lines", `HTTP/1.1 200 OK\r\n${"x: y\r\n".repeat(101)}content-length: 0\r\n\r\n`],
    ["an HTTP/1.0 answer", "HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n"],
    ["a 1xx", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"],
    ["a 4-digit status", "HTTP/1.1 2000 OK\r\ncontent-length: 0\r\n\r\n"],
    ["obs-fold", "HTTP/1.1 200 OK\r\nx: a\r\n folded\r\ncontent-length: 0\r\n\r\n"],
    ["a space before the colon", "HTTP/1.1 200 OK\r\nx : a\r\ncontent-length: 0\r\n\r\n"],
    ["a NUL in a value", Buffer.from("HTTP/1.1 200 OK\r\nx: a\0b\r\ncontent-length: 0\r\n\r\n", "latin1")],
    ["a bare LF line end", "HTTP/1.1 200 OK\nx: a\r\ncontent-length: 0\r\n\r\n"],
    ["content-length and chunked", "HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n"],
    ["two content-lengths", "HTTP/1.1 200 OK\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\nabcd"],
    ["a signed content-length", "HTTP/1.1 200 OK\r\ncontent-length: +3\r\n\r\nabc"],
    ["a 16-digit content-length", "HTTP/1.1 200 OK\r\ncontent-length: 1000000000000000\r\n\r\n"],
    ["gzip transfer-encoding", "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n0\r\n\r\n"],
    ["no framing (a body to the close)", "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nall of it"],
    ["a chunk size that is not hex", "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n"],
    ["a 9-digit chunk size", "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n100000000\r\n"],
    ["a chunk size line that never ends", `HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1${"0".repeat(300)}`],
    ["a chunk without its CRLF", "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n"],
    ["a chunk ending in CR and not LF", "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nab\rx0\r\n\r\n"],
    ["a malformed trailer", "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\nnot a header\r\n\r\n"],
    ["trailers past 16 KiB", `HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\nx: ${"a".repeat(17000)}`],
    ["a second answer after the first", `${LENGTH}HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n`],
    ["garbage after a chunked answer", `${CHUNKED}x`],
    ["garbage after a 204", "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200"],
  ];
  it.each(refused)("%s is an AnswerError, whole or byte by byte", (_what, text) => {
    const whole = parse(text);
    expect(whole.error).toBeDefined();
    const len = typeof text === "string" ? text.length : text.length;
    const bytewise = parse(
      text,
      Array.from({ length: len }, (_, i) => i),
    );
    expect(bytewise.error).toBeDefined();
    expect(bytewise.done).toBeLessThanOrEqual(1);
  });

  it("a truncated answer is never done", () => {
    for (const text of [LENGTH.slice(0, -2), CHUNKED.slice(0, -2), CHUNKED.slice(0, 60)]) {
      const out = parse(text);
      expect(out.done).toBe(0);
      expect(out.error).toBeUndefined();
    }
  });

  it("property: random mutations and splits never throw anything else, never overrun the framing, read the same however split", () => {
    let seed = 0x5eed;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed % n;
    };
    const alphabet = Buffer.from("\r\n:; 0123456789abcdefHTTP/1.1chunked-lengthxz\0\x7f\xff", "latin1");
    for (let round = 0; round < 3000; round++) {
      const base = Buffer.from(rand(2) ? LENGTH : CHUNKED, "latin1");
      const bytes = Buffer.from(base);
      const edits = 1 + rand(4);
      const out: number[] = [...bytes];
      for (let e = 0; e < edits; e++) {
        const at = rand(out.length + 1);
        const kind = rand(3);
        if (kind === 0) out.splice(at, 1);
        else if (kind === 1) out.splice(at, 0, alphabet[rand(alphabet.length)]!);
        else out[Math.min(at, out.length - 1)] = alphabet[rand(alphabet.length)]!;
      }
      const text = Buffer.from(out);
      const whole = parse(text);
      const cuts = Array.from({ length: 1 + rand(6) }, () => rand(text.length));
      const split = parse(text, cuts);
      // An error may come earlier or later when split (it is found when its bytes arrive), never a different outcome.
      expect(split.done).toBe(whole.done);
      expect(split.error === undefined).toBe(whole.error === undefined);
      if (whole.error === undefined) expect(split).toEqual(whole);
      expect(whole.done).toBeLessThanOrEqual(1);
      const declared = /content-length: (\d+)/i.exec(
        whole.head?.headers.map(([k, v]) => `${k}: ${v}`).join("\n") ?? "",
      );
      if (declared && whole.head) expect(whole.body.length).toBeLessThanOrEqual(Number(declared[1]));
      expect(whole.body.length).toBeLessThanOrEqual(text.length);
    }
  });
});
