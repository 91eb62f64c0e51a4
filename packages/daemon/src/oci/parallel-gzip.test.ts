// ParallelGzip's output is one gzip member any gunzip reads back to the input, deterministically.
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { constants, crc32, deflateRawSync, gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { BlockDigest, hashWorkers } from "./block-digest.js";
import { GzipBlocks, MEM_LEVEL, ParallelGzip } from "./parallel-gzip.js";

async function gzip(chunks: Buffer[], blockSize: number): Promise<Buffer> {
  return buffer(Readable.from(chunks).pipe(new ParallelGzip({ blockSize, concurrency: 3 })));
}

describe("ParallelGzip", () => {
  it("round-trips mixed data cut across many blocks, through zlib and GNU gzip", async () => {
    const input = Buffer.concat([randomBytes(300_000), Buffer.alloc(500_000, 7), randomBytes(12_345)]);
    // Uneven chunks, so blocks start mid-chunk.
    const chunks: Buffer[] = [];
    for (let i = 0; i < input.length; i += 77_777) chunks.push(input.subarray(i, i + 77_777));
    const gz = await gzip(chunks, 64 * 1024);
    expect(gunzipSync(gz).equals(input)).toBe(true);
    const gnu = spawnSync("gzip", ["-dc"], { input: gz, maxBuffer: 1 << 24 });
    expect(gnu.status).toBe(0);
    expect(gnu.stdout.equals(input)).toBe(true);
    expect(spawnSync("gzip", ["-t"], { input: gz }).status).toBe(0);
    expect((await gzip(chunks, 64 * 1024)).equals(gz)).toBe(true);
  });

  it("deflates each block exactly as deflateRaw at level 1 and memLevel 9 (the export's blob bytes)", async () => {
    // Words from a small vocabulary: repeats at many distances, where the hash table's size
    // changes which matches zlib finds (memLevel 8 gives other bytes here).
    let seed = 7;
    const words = Array.from({ length: 60_000 }, () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return `w${seed % 5000}`;
    });
    const input = Buffer.from(words.join(" "));
    const blockSize = 64 * 1024;
    const chunks: Buffer[] = [];
    for (let i = 0; i < input.length; i += 50_000) chunks.push(input.subarray(i, i + 50_000));
    const blocks: Buffer[] = [];
    for (let i = 0; i < input.length; i += blockSize)
      blocks.push(
        deflateRawSync(input.subarray(i, i + blockSize), {
          level: 1,
          memLevel: 9,
          finishFlush: constants.Z_SYNC_FLUSH,
        }),
      );
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(crc32(input) >>> 0, 0);
    trailer.writeUInt32LE(input.length, 4);
    const expected = Buffer.concat([
      Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0x03]),
      ...blocks,
      deflateRawSync(Buffer.alloc(0), { level: 1 }),
      trailer,
    ]);
    expect(MEM_LEVEL).toBe(9);
    expect((await gzip(chunks, blockSize)).equals(expected)).toBe(true);
  });

  it("writes a valid member for empty input", async () => {
    const gz = await gzip([], 1024);
    expect(gunzipSync(gz).length).toBe(0);
  });

  it("hashes the input on a worker thread (sha256 and the trailer's CRC) with the same output", async () => {
    const input = Buffer.concat([randomBytes(200_000), Buffer.alloc(300_000, 9)]);
    const chunks: Buffer[] = [];
    for (let i = 0; i < input.length; i += 33_333) chunks.push(input.subarray(i, i + 33_333));
    const out: Buffer[] = [];
    const g = new GzipBlocks((b) => out.push(b), { blockSize: 64 * 1024, concurrency: 3, digest: new BlockDigest() });
    for (const c of chunks) await g.write(c);
    const digest = await g.end();
    expect(digest).toBe(createHash("sha256").update(input).digest("hex"));
    const gz = Buffer.concat(out);
    expect(gz.equals(await gzip(chunks, 64 * 1024))).toBe(true);
    expect(gunzipSync(gz).equals(input)).toBe(true);
  });

  it("reuses its block slots many times over and still hashes every block once, in order", async () => {
    // 40 blocks through 5 slots (3 in flight): a slot refilled before its block was deflated or
    // hashed would change the output or the digest.
    const input = Buffer.concat(Array.from({ length: 40 }, (_, i) => Buffer.alloc(4096, i)));
    const out: Buffer[] = [];
    const g = new GzipBlocks((b) => out.push(b), { blockSize: 4096, concurrency: 3, digest: new BlockDigest() });
    for (let i = 0; i < input.length; i += 1000) await g.write(input.subarray(i, i + 1000));
    expect(await g.end()).toBe(createHash("sha256").update(input).digest("hex"));
    expect(gunzipSync(Buffer.concat(out)).equals(input)).toBe(true);
  });

  it("can be abandoned mid-stream: close() ends the hashing worker while it waits for blocks", async () => {
    const g = new GzipBlocks(() => undefined, { blockSize: 4096, concurrency: 2, digest: new BlockDigest() });
    await g.write(randomBytes(10_000));
    await g.close();
    await g.close(); // twice is fine
  });

  it("reuses a hashing worker for the next job; jobs at once and after an abandoned one hash right", async () => {
    const sha = (b: Buffer): string => createHash("sha256").update(b).digest("hex");
    const job = async (
      input: Buffer,
      g = new GzipBlocks(() => undefined, { blockSize: 4096, digest: new BlockDigest() }),
    ) => {
      for (let i = 0; i < input.length; i += 3000) await g.write(input.subarray(i, i + 3000));
      return g.end();
    };
    const [a, b] = [randomBytes(50_000), randomBytes(70_000)];
    expect(await job(a)).toBe(sha(a));
    const before = hashWorkers.started;
    expect(await job(b)).toBe(sha(b));
    expect(hashWorkers.started).toBe(before); // the first job's worker did the second
    expect(await Promise.all([job(a), job(b)])).toEqual([sha(a), sha(b)]);
    const abandoned = new GzipBlocks(() => undefined, { blockSize: 4096, digest: new BlockDigest() });
    await abandoned.write(randomBytes(20_000));
    await abandoned.close(); // its worker is ended, not pooled mid-job
    expect(await job(b)).toBe(sha(b));
  });
});
