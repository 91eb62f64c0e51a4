// Unit tests of the patched export form's codec: what the encoder writes decodes back into the
// same bytes however the stream is cut into chunks, and every way a stream can lie is refused.
import { describe, expect, it } from "vitest";
import {
  HOLE_SIZE,
  MAX_DATA_RECORD,
  MAX_OPEN_HOLES,
  PATCHED_TAR_MAGIC,
  PatchedTarDecoder,
  PatchedTarEncoder,
  type PatchedTarOp,
} from "./patched-tar.js";

/** Applies ops as a file writer would: data appended, holes zeroed, patches written in place. */
function apply(ops: PatchedTarOp[]): { out: Buffer; error?: string } {
  let out = Buffer.alloc(0);
  let error: string | undefined;
  for (const o of ops) {
    if (o.op === "data") out = Buffer.concat([out, o.bytes]);
    else if (o.op === "hole") out = Buffer.concat([out, Buffer.alloc(HOLE_SIZE)]);
    else if (o.op === "patch") o.bytes.copy(out, o.offset);
    else if (o.op === "cut") out = out.subarray(0, o.offset);
    else if (o.op === "error") error = o.json;
  }
  return { out, error };
}

function decode(stream: Buffer, chunk = stream.length): PatchedTarOp[] {
  const d = new PatchedTarDecoder();
  const ops: PatchedTarOp[] = [];
  for (let at = 0; at < stream.length; at += chunk) ops.push(...d.push(stream.subarray(at, at + chunk)));
  d.finish();
  // Data ops are slices of the chunks: copy them before the caller's buffers go.
  return ops.map((o) => (o.op === "data" ? { op: "data", bytes: Buffer.from(o.bytes) } : o));
}

const header = (c: number) => Buffer.alloc(HOLE_SIZE, c);
const rec = (type: string, ...parts: Buffer[]) => Buffer.concat([Buffer.from(type), ...parts]);
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const u48 = (n: number) => {
  const b = Buffer.alloc(6);
  b.writeUIntBE(n, 0, 6);
  return b;
};
const data = (s: string) => rec("D", u32(Buffer.byteLength(s)), Buffer.from(s));
const stream = (...records: Buffer[]) => Buffer.concat([PATCHED_TAR_MAGIC, ...records]);

/** An archive-like stream: a small member, a hole, a blob, the hole filled, the end. */
function sample(): { stream: Buffer; expected: Buffer } {
  const e = new PatchedTarEncoder();
  const blob = Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 251));
  const parts: Buffer[] = [e.start(), ...e.data(Buffer.from("head"))];
  const h = e.hole();
  parts.push(h.record, ...e.data(blob), e.fill(h.offset, header(7)), ...e.data(Buffer.from("tail")), e.end());
  return {
    stream: Buffer.concat(parts),
    expected: Buffer.concat([Buffer.from("head"), header(7), blob, Buffer.from("tail")]),
  };
}

describe("PatchedTarEncoder and PatchedTarDecoder", () => {
  it("decode what was encoded into the plain bytes, whatever the chunking", () => {
    const { stream: s, expected } = sample();
    for (const chunk of [1, 2, 5, 7, 511, 512, 513, 4096, s.length]) {
      const ops = decode(s, chunk);
      expect(apply(ops).out.equals(expected)).toBe(true);
      expect(ops.at(-1)).toEqual({ op: "end", size: expected.length });
    }
  });

  it("split a chunk bigger than a data record into several", () => {
    const e = new PatchedTarEncoder();
    const big = Buffer.alloc(MAX_DATA_RECORD + 10, 1);
    const s = Buffer.concat([e.start(), ...e.data(big), e.end()]);
    expect(apply(decode(s)).out.equals(big)).toBe(true);
  });

  it("cut back to the last hole: it and what followed go, and later data lands there", () => {
    const e = new PatchedTarEncoder();
    const parts: Buffer[] = [e.start(), ...e.data(Buffer.from("a"))];
    const h1 = e.hole();
    parts.push(h1.record, ...e.data(Buffer.from("blob")), e.fill(h1.offset, header(1)));
    const h2 = e.hole();
    parts.push(h2.record, ...e.data(Buffer.from("same")), e.cut(h2.offset), ...e.data(Buffer.from("z")), e.end());
    for (const chunk of [1, 3, 1000]) {
      const { out } = apply(decode(Buffer.concat(parts), chunk));
      expect(out.equals(Buffer.concat([Buffer.from("a"), header(1), Buffer.from("blobz")]))).toBe(true);
    }
  });

  it("refuse a cut anywhere but the last hole still open", () => {
    const twoHoles = stream(rec("H"), rec("H"), rec("C", u48(0)));
    expect(() => decode(twoHoles)).toThrow(/a cut at 0, which is not the last hole open/);
    const filled = stream(rec("H"), rec("P", u48(0), header(1)), rec("C", u48(0)));
    expect(() => decode(filled)).toThrow(/a cut at 0, which is not the last hole open/);
    const twice = stream(data("a"), rec("H"), rec("C", u48(1)), rec("C", u48(1)));
    expect(() => decode(twice)).toThrow(/a cut at 1, which is not the last hole open/);
    expect(() => decode(stream(data("abc"), rec("C", u48(1))))).toThrow(/a cut at 1/);
  });

  it("refuse a stream cut anywhere before its end record", () => {
    const { stream: s } = sample();
    for (let cut = 0; cut < s.length; cut++) expect(() => decode(s.subarray(0, cut)), `cut at ${cut}`).toThrow();
    expect(() => decode(s.subarray(0, s.length - 1))).toThrow(/cut off before its end/);
  });

  it("refuse a patch where no hole was reserved", () => {
    const s = stream(data("x".repeat(600)), rec("P", u48(10), header(1)), rec("E", u48(600)));
    expect(() => decode(s)).toThrow(/a patch at 10, where no hole is open/);
  });

  it("refuse a patch of a hole already filled", () => {
    const s = stream(rec("H"), rec("P", u48(0), header(1)), rec("P", u48(0), header(2)), rec("E", u48(512)));
    expect(() => decode(s)).toThrow(/a patch at 0, where no hole is open/);
  });

  it("refuse an end while a hole is unfilled", () => {
    const s = stream(data("a"), rec("H"), data("b"), rec("E", u48(514)));
    expect(() => decode(s)).toThrow(/1 holes never filled/);
  });

  it("refuse oversized and empty data records and oversized error records", () => {
    expect(() => decode(stream(rec("D", u32(MAX_DATA_RECORD + 1))))).toThrow(/data record of 8388609 bytes/);
    expect(() => decode(stream(rec("D", u32(0)), rec("E", u48(0))))).toThrow(/data record of 0 bytes/);
    expect(() => decode(stream(rec("X", u32(1 << 20))))).toThrow(/error record of 1048576 bytes/);
  });

  it("refuse a wrong start, an unknown record, a wrong size at the end and bytes after it", () => {
    expect(() => decode(Buffer.from("GET / HTTP/1.1\r\n\r\n"))).toThrow(/does not start as one/);
    expect(() => decode(stream(rec("Z")))).toThrow(/unknown record type 0x5a/);
    expect(() => decode(stream(data("abc"), rec("E", u48(4))))).toThrow(/an end at 4 bytes after 3/);
    expect(() => decode(stream(data("abc"), rec("E", u48(3)), data("d")))).toThrow(/bytes after its end/);
  });

  it("refuse more open holes than allowed", () => {
    const s = stream(...Array.from({ length: MAX_OPEN_HOLES + 1 }, () => rec("H")));
    expect(() => decode(s)).toThrow(/more than 1024 holes open/);
  });

  it("carry a failure as an error record that ends the stream", () => {
    const e = new PatchedTarEncoder();
    const s = Buffer.concat([
      e.start(),
      ...e.data(Buffer.from("abc")),
      e.hole().record,
      e.error({ code: "internal", message: "no" }),
    ]);
    const err = { code: "runtime_error", message: "layer gone" };
    const s2 = Buffer.concat([e.start(), e.error(err)]);
    expect(apply(decode(s2, 3)).error).toBe(JSON.stringify({ error: err }));
    expect(JSON.parse(apply(decode(s)).error!).error.message).toBe("no");
  });

  it("refuse to fill what is not an open hole, or to end with one open, when encoding", () => {
    const e = new PatchedTarEncoder();
    e.data(Buffer.from("x"));
    const h = e.hole();
    expect(() => e.fill(h.offset + 1, header(0))).toThrow();
    expect(() => e.fill(h.offset, Buffer.alloc(10))).toThrow();
    expect(() => e.end()).toThrow(/1 holes left open/);
    e.fill(h.offset, header(0));
    expect(() => e.fill(h.offset, header(0))).toThrow();
    expect(() => e.cut(h.offset)).toThrow();
  });
});
