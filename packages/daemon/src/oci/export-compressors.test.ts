// Exports and the compressor that made their blobs: sbx-deflate and zlib write other bytes for the
// same layer and the same diff ids, the memo and the cache keep a blob per compressor (one is never
// sent for the other), and a compressor that dies mid-layer fails the export with its message,
// leaving no memo entry, no cache entry and no spool file.
import { createHash } from "node:crypto";
import { createWriteStream, readFileSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCommand } from "../common/command.js";
import { BlobCache } from "./blob-cache.js";
import { BlobMemo } from "./blob-memo.js";
import { exportLayout, type ExportSource } from "./export.js";
import { exportArchive } from "./export-archive.js";
import type { GzipProgram } from "./program-gzip.js";
import { DEFLATE } from "./testing/compressors.js";
import { makeLayers } from "./testing/layers-fixture.js";

const isRoot = process.getuid?.() === 0;

async function toFile(stream: Readable, path: string): Promise<string> {
  await pipeline(stream, createWriteStream(path));
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

const using = (src: ExportSource, gzip: GzipProgram): ExportSource => ({
  ...src,
  layers: src.layers.map((l) => ({ ...l, gzip })),
});

describe.runIf(isRoot)("OCI export compressors", () => {
  let root: string;
  let spool: string;
  let zlib: ExportSource;
  let n = 0;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "sbx-ocigz-"));
    spool = join(root, "spool");
    zlib = makeLayers(root);
  });
  afterAll(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  const cacheFiles = async (cache: BlobCache) =>
    (await readdir(cache.dir).catch(() => [] as string[])).filter((f) => f.endsWith(".gz"));
  const exported = async (src: ExportSource, cache: BlobCache, memo: BlobMemo, memoryLimit?: number) => {
    const o = { tmpDir: spool, memo, cache, ...(memoryLimit === undefined ? {} : { memoryLimit }) };
    const sum = await toFile(await exportArchive(src, o), join(root, `e${n++}.tar`));
    await cache.idle();
    return sum;
  };

  it("writes other blobs for the same diff ids, and keeps a blob per compressor in the memo and the cache", async () => {
    const helper = using(zlib, DEFLATE);
    const a = await exportLayout(zlib, join(root, "layout-zlib"));
    const b = await exportLayout(helper, join(root, "layout-helper"));
    const config = (dir: string, digest: string) =>
      JSON.parse(readFileSync(join(dir, "blobs", "sha256", digest.slice(7)), "utf8")) as { rootfs: unknown };
    expect(config(join(root, "layout-helper"), b.config.digest).rootfs).toEqual(
      config(join(root, "layout-zlib"), a.config.digest).rootfs,
    );
    expect(b.layers.map((l) => l.digest)).not.toEqual(a.layers.map((l) => l.digest));

    const memo = new BlobMemo();
    expect(await memo.key(helper.layers[0]!)).not.toBe(await memo.key(zlib.layers[0]!));
    const cache = new BlobCache(join(root, "cache"), 1 << 30);
    const viaZlib = await exported(zlib, cache, memo);
    const viaHelper = await exported(helper, cache, memo);
    expect(viaHelper).not.toBe(viaZlib);
    expect((await cacheFiles(cache)).length).toBe(2 * zlib.layers.length);
    // From the memo and from the cache (another daemon): each compressor's own bytes.
    expect(await exported(helper, cache, memo)).toBe(viaHelper);
    expect(await exported(zlib, cache, new BlobMemo())).toBe(viaZlib);
    expect(await exported(helper, cache, new BlobMemo())).toBe(viaHelper);
  });

  it("fails an export whose compressor dies mid-layer: its message, no memo or cache entry, no spool file", async () => {
    // Some output first (a gzip magic), then death: the sink has begun a blob that must go.
    const dies: GzipProgram = {
      id: "dies",
      start: () =>
        startCommand("sh", ["-c", "printf '\\037\\213'; head -c 600 >/dev/null; echo broken >&2; exit 9"], {
          stdout: true,
        }),
    };
    const broken = using(zlib, dies);
    const memo = new BlobMemo();
    const cache = new BlobCache(join(root, "cache-dies"), 1 << 30);
    for (const memoryLimit of [undefined, 0]) {
      await expect(exported(broken, cache, memo, memoryLimit)).rejects.toThrow(
        /layer compression failed \(exit 9\): broken/,
      );
      for (const l of broken.layers) expect(memo.get(await memo.key(l))).toBeUndefined();
      expect(await cacheFiles(cache)).toEqual([]);
      expect(await readdir(spool)).toEqual([]);
    }
  });
});
