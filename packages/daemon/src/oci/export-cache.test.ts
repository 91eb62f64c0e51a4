// Exports with the blob cache: the first export of a layer leaves its blob in the cache (from a
// spool in memory or in a file), the next ones send that file and write the same bytes; a cached
// blob that was damaged fails the export, is dropped, and the export after it compresses again;
// a layout (registry push) links the cached blob in, and fills the cache for the archive export.
import { createHash } from "node:crypto";
import { createWriteStream, readFileSync, statSync } from "node:fs";
import { mkdtemp, open, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BlobCache } from "./blob-cache.js";
import { BlobMemo } from "./blob-memo.js";
import { exportLayout, type ExportSource } from "./export.js";
import { exportArchive } from "./export-archive.js";
import { makeLayers } from "./testing/layers-fixture.js";

const isRoot = process.getuid?.() === 0;

async function toFile(stream: Readable, path: string): Promise<string> {
  await pipeline(stream, createWriteStream(path));
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

describe.runIf(isRoot)("OCI export with the blob cache", () => {
  let root: string;
  let spool: string;
  let src: ExportSource;
  let n = 0;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "sbx-ocicache-"));
    spool = join(root, "spool");
    src = makeLayers(root);
  });
  afterAll(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  const cacheFiles = async (cache: BlobCache) => (await readdir(cache.dir)).filter((f) => f.endsWith(".gz")).sort();
  /** The cache's blob files with their inodes: an entry made again is a new file. */
  const inodes = async (cache: BlobCache) =>
    (await cacheFiles(cache)).map((f) => `${f}:${statSync(join(cache.dir, f)).ino}`);
  const exported = async (cache: BlobCache, memoryLimit?: number, memo = new BlobMemo()) => {
    const sum = await toFile(
      await exportArchive(src, { tmpDir: spool, memo, cache, ...(memoryLimit === undefined ? {} : { memoryLimit }) }),
      join(root, `e${n++}.tar`),
    );
    await cache.idle();
    return sum;
  };

  it("sends the blobs the first export left, the same bytes, from memory or file spools alike", async () => {
    for (const memoryLimit of [undefined, 0]) {
      const cache = new BlobCache(join(root, `cache-${memoryLimit}`), 1 << 30);
      const first = await exported(cache, memoryLimit);
      const files = await inodes(cache);
      expect(files.length).toBe(src.layers.length);
      // Another daemon (no memo) with the same cache: every layer from the cache, no entry made again.
      const again = await exported(cache, memoryLimit);
      expect(again).toBe(first);
      expect(await inodes(cache)).toEqual(files);
      expect(await readdir(spool)).toEqual([]);
    }
  });

  it("fails an export whose cached blob was damaged, drops it, and compresses the layer again next time", async () => {
    const cache = new BlobCache(join(root, "cache-damaged"), 1 << 30);
    const good = await exported(cache);
    const [file] = await cacheFiles(cache);
    const h = await open(join(cache.dir, file!), "r+");
    await h.write(Buffer.from([0xff, 0xff, 0xff, 0xff]), 0, 4, 100); // same size, other bytes
    await h.close();
    await expect(exported(cache)).rejects.toThrow(/damaged/);
    expect((await cacheFiles(cache)).length).toBe(src.layers.length - 1);
    expect(await exported(cache)).toBe(good);
    expect((await cacheFiles(cache)).length).toBe(src.layers.length);
  });

  it("links cached blobs into a layout, and a layout's blobs fill the cache", async () => {
    const cache = new BlobCache(join(root, "cache-layout"), 1 << 30);
    const a = await exportLayout(src, join(root, "layout-a"), cache);
    await cache.idle();
    expect((await cacheFiles(cache)).length).toBe(src.layers.length);
    const b = await exportLayout(src, join(root, "layout-b"), cache);
    expect(b).toEqual(a);
    for (const l of b.layers) {
      const blob = join(root, "layout-b", "blobs", "sha256", l.digest.slice(7));
      // The same file as the cache's (hard link): nothing compressed or copied.
      expect(statSync(blob).nlink).toBeGreaterThan(1);
    }
    // A cached blob damaged in place (same size) is not linked into a layout: it is made again.
    const [file] = await cacheFiles(cache);
    const h = await open(join(cache.dir, file!), "r+");
    await h.write(Buffer.from([0xff, 0xff, 0xff, 0xff]), 0, 4, 100);
    await h.close();
    const c = await exportLayout(src, join(root, "layout-c"), cache);
    await cache.idle();
    expect(c).toEqual(a);
    for (const l of c.layers) {
      const data = readFileSync(join(root, "layout-c", "blobs", "sha256", l.digest.slice(7)));
      expect(`sha256:${createHash("sha256").update(data).digest("hex")}`).toBe(l.digest);
    }
    // The archive export then sends what the layouts made.
    const viaLayout = await exported(cache);
    expect(viaLayout).toBe(await exported(new BlobCache(join(root, "cache-fresh"), 1 << 30)));
  });
});
