// ParallelGzip's output is one gzip member any gunzip reads back to the input, deterministically.
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { BlockDigest } from "./block-digest.js";
import { GzipBlocks, ParallelGzip } from "./parallel-gzip.js";

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
});
