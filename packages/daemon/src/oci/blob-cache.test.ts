// The on-disk blob cache: a hit gives the bytes put in, a miss nothing; a half-written, damaged or
// leftover entry is never used (and is removed); the total stays under the bound, least recently
// used out first; entries of layer dirs that went are pruned.
import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BlobCache } from "./blob-cache.js";
import { BlobMemo } from "./blob-memo.js";
import type { LayerBlob } from "./layer-blob.js";

function blobOf(data: Buffer): LayerBlob {
  const digest = `sha256:${createHash("sha256").update(data).digest("hex")}`;
  return {
    desc: { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest, size: data.length },
    diffId: digest,
  };
}

describe("BlobCache", () => {
  let root: string;
  let dir: string;
  const memo = new BlobMemo();
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), "sbx-blobcache-"));
    dir = join(root, "cache");
  });
  afterEach(async () => rm(root, { recursive: true, force: true }));

  /** A real layer dir (the cache keys entries like BlobMemo) and its key. */
  async function layer(name: string) {
    const d = join(root, name);
    await mkdir(d);
    const l = { dir: d, uidBase: 0 };
    return { layer: l, key: (await memo.key(l))! };
  }

  async function put(cache: BlobCache, key: string, l: { dir: string; uidBase: number }, data: Buffer) {
    const blob = blobOf(data);
    await cache.put(key, l, blob, (p) => writeFile(p, data));
    return blob;
  }

  async function read(cache: BlobCache, key: string): Promise<Buffer | undefined> {
    const hit = await cache.get(key);
    if (!hit) return undefined;
    await hit.handle.close();
    return readFile(hit.path);
  }

  it("misses, then gives back what was put, across a restart", async () => {
    const cache = new BlobCache(dir, 1 << 20);
    const { layer: l, key } = await layer("a");
    expect(await cache.get(key)).toBeUndefined();
    const data = randomBytes(1000);
    const blob = await put(cache, key, l, data);
    const hit = await cache.get(key);
    expect(hit?.blob).toEqual(blob);
    await hit!.handle.close();
    expect(await read(new BlobCache(dir, 1 << 20), key)).toEqual(data);
    // Another key (another dir) does not see it.
    expect(await cache.get((await layer("b")).key)).toBeUndefined();
  });

  it("ignores and removes a truncated blob, a broken record and leftovers, and is filled again", async () => {
    const cache = new BlobCache(dir, 1 << 20);
    const { layer: l, key } = await layer("a");
    const data = randomBytes(1000);
    await put(cache, key, l, data);
    const gz = (await readdir(dir)).find((f) => f.endsWith(".gz"))!;
    await truncate(join(dir, gz), 500);
    expect(await cache.get(key)).toBeUndefined();
    expect(await readdir(dir)).toEqual([]);
    await put(cache, key, l, data);
    expect(await read(cache, key)).toEqual(data);

    // A record that is not JSON: a miss.
    const json = (await readdir(dir)).find((f) => f.endsWith(".json"))!;
    await writeFile(join(dir, json), "{not json");
    expect(await cache.get(key)).toBeUndefined();

    // What a killed daemon leaves (a temp file, a blob whose record was never written) goes at load.
    await writeFile(join(dir, "tmp-0123456789ab"), "half");
    await writeFile(join(dir, `${"f".repeat(40)}.gz`), "orphan");
    await rm(join(dir, json));
    await new BlobCache(dir, 1 << 20).load();
    expect(await readdir(dir)).toEqual([]);
  });

  it("makes no entry when the filled bytes are not the blob's size", async () => {
    const cache = new BlobCache(dir, 1 << 20);
    const { layer: l, key } = await layer("a");
    await cache.put(key, l, blobOf(randomBytes(100)), (p) => writeFile(p, randomBytes(99)));
    expect(await cache.get(key)).toBeUndefined();
    expect(await readdir(dir)).toEqual([]);
  });

  it("stays under its bound, the least recently used going first", async () => {
    const cache = new BlobCache(dir, 2500);
    const layers = await Promise.all(["a", "b", "c"].map(layer));
    for (const { layer: l, key } of layers.slice(0, 2)) {
      await put(cache, key, l, randomBytes(1000));
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(await read(cache, layers[0]!.key)).toBeDefined(); // a is now used after b
    await new Promise((r) => setTimeout(r, 5));
    await put(cache, layers[2]!.key, layers[2]!.layer, randomBytes(1000));
    expect(await cache.bytes()).toBe(2000);
    expect(await cache.get(layers[1]!.key)).toBeUndefined();
    expect(await read(cache, layers[0]!.key)).toBeDefined();
    expect(await read(cache, layers[2]!.key)).toBeDefined();
    expect((await readdir(dir)).length).toBe(4);
  });

  it("prunes the entries of layer dirs that were removed (layer GC) or made again", async () => {
    const cache = new BlobCache(dir, 1 << 20);
    const kept = await layer("kept");
    const gone = await layer("gone");
    const remade = await layer("remade");
    for (const x of [kept, gone, remade]) await put(cache, x.key, x.layer, randomBytes(100));
    await rm(gone.layer.dir, { recursive: true });
    await rm(remade.layer.dir, { recursive: true });
    await mkdir(remade.layer.dir);
    expect(await cache.prune(memo)).toBe(2);
    expect(await read(cache, kept.key)).toBeDefined();
    expect((await readdir(dir)).length).toBe(2);
  });
});
