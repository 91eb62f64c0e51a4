// Uploads held until complete: small ones in memory, big ones in a spill file that release removes;
// a failed upload leaves nothing behind.
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { spool } from "./spool.js";

async function bytesOf(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

function pieces(total: number, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < total; off += size)
    out.push(Buffer.from(Array.from({ length: Math.min(size, total - off) }, (_, i) => (off + i) % 251)));
  return out;
}

describe("spool", () => {
  let dir: string;
  beforeEach(async () => (dir = await mkdtemp(join(tmpdir(), "sbx-spool-"))));
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it("keeps a small upload in memory: its head is its first 512 bytes, open gives it whole", async () => {
    const parts = pieces(3000, 100);
    const s = await spool(Readable.from(parts), join(dir, "up"));
    expect(s.head.equals(Buffer.concat(parts).subarray(0, 512))).toBe(true);
    expect((await bytesOf(s.open())).equals(Buffer.concat(parts))).toBe(true);
    expect(await readdir(dir)).toEqual([]);
  });

  it("spills a big upload to a file, byte for byte, that release removes", async () => {
    const parts = pieces(6 * 1024 * 1024 + 17, 64 * 1024);
    const s = await spool(Readable.from(parts), join(dir, "up"));
    expect(await readdir(join(dir, "up"))).toHaveLength(1);
    expect(s.head.equals(Buffer.concat(parts).subarray(0, 512))).toBe(true);
    expect((await bytesOf(s.open())).equals(Buffer.concat(parts))).toBe(true);
    await s.release();
    expect(await readdir(join(dir, "up"))).toEqual([]);
  });

  it("a head shorter than 512 bytes is the whole upload", async () => {
    const s = await spool(Readable.from([Buffer.from("ab"), Buffer.from("c")]), join(dir, "up"));
    expect(s.head.toString()).toBe("abc");
  });

  it("rejects with the stream's error and leaves no spill file when the upload fails half-way", async () => {
    async function* failing() {
      yield* pieces(5 * 1024 * 1024, 64 * 1024);
      throw new Error("client went away");
    }
    await expect(spool(Readable.from(failing()), join(dir, "up"))).rejects.toThrow("client went away");
    expect(await readdir(join(dir, "up"))).toEqual([]);
  });
});
