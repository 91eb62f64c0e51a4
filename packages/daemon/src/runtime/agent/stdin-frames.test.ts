// stdinFrames: a stream read back in small chunks (a spilled upload) goes to the agent in frames
// as big as a frame allows, bytes and order unchanged; big chunks are cut, small ones joined.
import { describe, expect, it } from "vitest";
import { MAX_FRAME, encode } from "./agent-protocol.js";
import { STDIN_FRAME_BYTES, stdinFrames } from "./stdin-frames.js";

async function collect(chunks: Buffer[], size?: number): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const piece of stdinFrames(
    (async function* () {
      yield* chunks;
    })(),
    size,
  ))
    out.push(piece);
  return out;
}

const bytes = (n: number, seed: number): Buffer =>
  Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 255));

describe("stdinFrames", () => {
  it("sends a 10 MiB upload read back in 64 KiB chunks as 11 frames, not 160", async () => {
    const chunks = Array.from({ length: 160 }, (_, i) => bytes(64 * 1024, i));
    const frames = await collect(chunks);
    expect(frames.map((f) => f.length)).toEqual([
      ...Array(10).fill(STDIN_FRAME_BYTES),
      10 * 1024 * 1024 - 10 * STDIN_FRAME_BYTES,
    ]);
    expect(Buffer.concat(frames).equals(Buffer.concat(chunks))).toBe(true);
  });

  it("cuts big chunks and joins small ones, keeping every byte in order", async () => {
    const chunks = [bytes(3, 1), bytes(10, 2), bytes(0, 3), bytes(25, 4), bytes(1, 5)];
    const frames = await collect(chunks, 8);
    expect(frames.map((f) => f.length)).toEqual([8, 8, 8, 8, 7]);
    expect(Buffer.concat(frames).equals(Buffer.concat(chunks))).toBe(true);
    expect(await collect([])).toEqual([]);
  });

  it("a full frame of stdin fits the protocol's frame limit", () => {
    const frame = encode.stdin(1, `file-${"f".repeat(16)}`, Buffer.alloc(STDIN_FRAME_BYTES));
    expect(frame.length).toBeLessThanOrEqual(MAX_FRAME);
  });
});
