// The daemon's decoder of sbx-agent frames against what a hostile agent could send: valid frames of
// every kind decode; random bytes, mutated valid frames, absurd lengths, bad ids and out-of-range
// codes fail with AgentProtocolError only (never another exception, never a buffer beyond one frame).
import { describe, expect, it } from "vitest";
import { FrameDecoder, decodeFrame } from "./agent-decode.js";
import { AgentProtocolError, MAX_FRAME, encode, type AgentMessage } from "./agent-protocol.js";

/** Builds a frame as the agent would (the C side's b_start/b_u32/b_str). */
function agentFrame(type: number, req: number, ...fields: Array<number | string | Buffer | ["u8", number]>): Buffer {
  const parts: Buffer[] = [];
  for (const f of fields) {
    if (Array.isArray(f)) parts.push(Buffer.from([f[1]]));
    else if (typeof f === "number") {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(f >>> 0);
      parts.push(b);
    } else {
      const data = typeof f === "string" ? Buffer.from(f) : f;
      const n = Buffer.alloc(4);
      n.writeUInt32BE(data.length);
      parts.push(n, data);
    }
  }
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(9);
  head.writeUInt32BE(5 + body.length, 0);
  head.writeUInt8(type, 4);
  head.writeUInt32BE(req, 5);
  return Buffer.concat([head, body]);
}

const VALID = [
  agentFrame(0x80, 7),
  agentFrame(0x81, 1, 1, "sbx-agent 1.0"),
  agentFrame(0x82, 2, 4242),
  agentFrame(0x86, 3, ["u8", 1], 137),
  agentFrame(0xff, 4, 5, "working directory /etc/passwd: Not a directory"),
  agentFrame(0xc1, 0, "pr_abc", 3),
  agentFrame(0xc2, 0, "run-1", ["u8", 2], Buffer.from("out")),
];
const output = (data: Buffer): Buffer => agentFrame(0xc2, 0, "run-1", ["u8", 1], data);

/** A small seeded generator, so a failure names the seed that reproduces it. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x100000000;
  };
}

/**
 * Feeds `bytes` in random chunks; every outcome must be messages or an AgentProtocolError.
 * `messages` counts whole messages: output that came in pieces counts once per frame sent.
 */
function feed(bytes: Buffer, rand: () => number): { messages: number; output: Buffer; error?: unknown } {
  const d = new FrameDecoder();
  let messages = 0;
  const output: Buffer[] = [];
  const take = (ms: AgentMessage[]): void => {
    for (const m of ms)
      if (m.type !== "output") messages++;
      else output.push(m.data);
  };
  try {
    for (let off = 0; off < bytes.length;) {
      const n = 1 + Math.floor(rand() * 64);
      take(d.push(bytes.subarray(off, off + n)));
      off += n;
    }
  } catch (err) {
    return { messages, output: Buffer.concat(output), error: err };
  }
  return { messages, output: Buffer.concat(output) };
}

describe("agent protocol decoder", () => {
  it("decodes every message the agent sends, split anywhere", () => {
    const all = Buffer.concat(VALID);
    for (let seed = 1; seed <= 50; seed++) {
      const r = feed(all, rng(seed));
      expect(r.error).toBeUndefined();
      // Every message but the one output frame, whose bytes arrive whole, however they were cut.
      expect(r.messages).toBe(VALID.length - 1);
      expect(r.output.toString()).toBe("out");
    }
    expect(decodeFrame(VALID[5]!.subarray(4))).toEqual({ type: "exit", id: "pr_abc", code: 3 });
    expect(decodeFrame(VALID[3]!.subarray(4))).toEqual({ type: "status", req: 3, exited: true, code: 137 });
  });

  it("survives random bytes: messages or AgentProtocolError, nothing else", () => {
    for (let seed = 1; seed <= 3000; seed++) {
      const rand = rng(seed);
      const bytes = Buffer.alloc(Math.floor(rand() * 300));
      for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(rand() * 256);
      // Small lengths now and then, so random frames get past the length check.
      if (bytes.length > 8 && rand() < 0.5) bytes.writeUInt32BE(Math.floor(rand() * (bytes.length - 4)), 0);
      const r = feed(bytes, rand);
      if (r.error !== undefined) expect(r.error, `seed ${seed}`).toBeInstanceOf(AgentProtocolError);
    }
  });

  it("survives mutated valid frames: flipped, truncated, extended", () => {
    for (let seed = 1; seed <= 3000; seed++) {
      const rand = rng(seed);
      const frame = Buffer.from(VALID[Math.floor(rand() * VALID.length)]!);
      const flips = 1 + Math.floor(rand() * 4);
      for (let k = 0; k < flips; k++) frame[Math.floor(rand() * frame.length)] = Math.floor(rand() * 256);
      const cut = rand() < 0.3 ? frame.subarray(0, Math.floor(rand() * frame.length)) : frame;
      const r = feed(Buffer.concat([cut, rand() < 0.3 ? Buffer.from([1, 2, 3]) : Buffer.alloc(0)]), rand);
      if (r.error !== undefined) expect(r.error, `seed ${seed}`).toBeInstanceOf(AgentProtocolError);
    }
  });

  it("refuses a length beyond one frame before buffering it", () => {
    const d = new FrameDecoder();
    const head = Buffer.alloc(4);
    head.writeUInt32BE(MAX_FRAME + 1);
    expect(() => d.push(head)).toThrow(AgentProtocolError);
    head.writeUInt32BE(0xffffffff);
    expect(() => new FrameDecoder().push(head)).toThrow(/out of bounds/);
    head.writeUInt32BE(2);
    expect(() => new FrameDecoder().push(head)).toThrow(/out of bounds/);
    // Also when the length field itself comes in pieces, after a whole frame.
    const split = new FrameDecoder();
    head.writeUInt32BE(MAX_FRAME + 1);
    expect(split.push(Buffer.concat([VALID[0]!, head.subarray(0, 2)]))).toHaveLength(1);
    expect(() => split.push(head.subarray(2))).toThrow(/out of bounds/);
  });

  it("decodes output chunks that span reads, each byte as sent", () => {
    // 64 KiB of output in frames a little over 64 KiB, read 64 KiB at a time: every frame spans two reads.
    const data = (i: number): Buffer => Buffer.alloc(65536, i);
    const stream = Buffer.concat(Array.from({ length: 8 }, (_, i) => output(data(i))));
    const d = new FrameDecoder();
    const got: Buffer[] = [];
    const reads: Buffer[] = [];
    for (let off = 0; off < stream.length; off += 65536) {
      const read = Buffer.from(stream.subarray(off, off + 65536));
      reads.push(read);
      for (const m of d.push(read)) if (m.type === "output") got.push(m.data);
    }
    expect(Buffer.concat(got).equals(Buffer.concat(Array.from({ length: 8 }, (_, i) => data(i))))).toBe(true);
    // Handed on where they lie, never joined: each big piece is a view of the read that brought it
    // (a small one is copied, so that keeping it does not keep a whole read alive).
    const big = got.filter((b) => b.length * 2 >= 65536);
    expect(big.length).toBeGreaterThanOrEqual(8);
    expect(big.every((b) => reads.some((r) => r.buffer === b.buffer))).toBe(true);
    expect(got.filter((b) => !reads.some((r) => r.buffer === b.buffer)).every((b) => b.length * 2 < 65536)).toBe(true);
  });

  it("checks a streamed output frame's header as a whole one: a bad one fails before its data", () => {
    const cases = [
      agentFrame(0xc2, 9, "run-1", ["u8", 1], Buffer.alloc(1000)),
      agentFrame(0xc2, 0, "../x", ["u8", 1], Buffer.alloc(1000)),
      agentFrame(0xc2, 0, "run-1", ["u8", 3], Buffer.alloc(1000)),
      agentFrame(0xc2, 0, "run-1", ["u8", 1], Buffer.alloc(65537)),
    ];
    for (const frame of cases)
      expect(() => new FrameDecoder().push(frame.subarray(0, 200))).toThrow(AgentProtocolError);
    // A data length that disagrees with the frame's length, either way.
    const long = agentFrame(0xc2, 0, "run-1", ["u8", 1], Buffer.alloc(1000));
    long.writeUInt32BE(long.readUInt32BE(0) + 10, 0);
    expect(() => new FrameDecoder().push(long.subarray(0, 200))).toThrow(/trailing bytes/);
    const short = agentFrame(0xc2, 0, "run-1", ["u8", 1], Buffer.alloc(1000));
    short.writeUInt32BE(short.readUInt32BE(0) - 10, 0);
    expect(() => new FrameDecoder().push(short.subarray(0, 200))).toThrow(/truncated/);
    // The frame after a streamed one decodes as usual, in the same read as the streamed one's end.
    const d = new FrameDecoder();
    const two = Buffer.concat([agentFrame(0xc2, 0, "run-1", ["u8", 2], Buffer.alloc(1000, 7)), VALID[5]!]);
    const first = d.push(two.subarray(0, 500));
    const rest = d.push(two.subarray(500));
    expect([...first, ...rest].map((m) => m.type)).toEqual(["output", "output", "exit"]);
    expect(Buffer.concat([...first, ...rest].flatMap((m) => (m.type === "output" ? [m.data] : []))).length).toBe(1000);
  });

  it.each([
    ["a string longer than its frame", agentFrame(0xff, 1, 1, "x").fill(0x7f, 13, 17)],
    ["an error message beyond 4 KiB", agentFrame(0xff, 1, 1, "x".repeat(5000))],
    ["a process id that is a path", agentFrame(0xc1, 0, "../../etc/passwd", 0)],
    ["an empty process id", agentFrame(0xc1, 0, "", 0)],
    ["an exit code out of range", agentFrame(0xc1, 0, "pr_a", 100000)],
    ["an event with a request id", agentFrame(0xc1, 9, "pr_a", 0)],
    ["an unknown output stream", agentFrame(0xc2, 0, "pr_a", ["u8", 3], "x")],
    ["output beyond 64 KiB", agentFrame(0xc2, 0, "pr_a", ["u8", 1], Buffer.alloc(65537))],
    ["an unknown error code", agentFrame(0xff, 1, 99, "x")],
    ["an unknown message type", agentFrame(0x42, 1)],
    ["trailing bytes", Buffer.concat([agentFrame(0x80, 1, 5)])],
    ["a STATUS flag other than 0 or 1", agentFrame(0x86, 1, ["u8", 7], 0)],
  ])("refuses %s", (_what, frame) => {
    expect(() => new FrameDecoder().push(frame)).toThrow(AgentProtocolError);
  });

  it("encodes requests the agent's bounds accept", () => {
    const f = Buffer.concat(
      encode.start(5, { id: "pr_1", uid: 0, gid: 0, cwd: "/", argv: ["true"], env: ["A=b"], flags: 1 }),
    );
    expect(f.readUInt32BE(0)).toBe(f.length - 4);
    expect(f[4]).toBe(2);
    expect(f.readUInt32BE(5)).toBe(5);
    expect(() => encode.stdin(1, "pr_1", Buffer.alloc(MAX_FRAME))).toThrow(AgentProtocolError);
  });

  it("hands a stdin chunk on as the buffer it came in, after a header that counts it", () => {
    const data = Buffer.from("some stdin bytes");
    const pieces = encode.stdin(9, "pr_1", data);
    expect(pieces.at(-1)).toBe(data);
    const f = Buffer.concat(pieces);
    expect(f.readUInt32BE(0)).toBe(f.length - 4);
    expect(f[4]).toBe(3);
    expect(f.subarray(-data.length).equals(data)).toBe(true);
  });
});
