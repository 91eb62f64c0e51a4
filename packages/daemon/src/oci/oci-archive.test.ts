// The streamed export (exportArchive): an OCI layout tar that skopeo and umoci accept and sbx
// imports back to the same trees, the same bytes every time and whichever way a blob was
// spooled, and nothing left behind when the reader goes away or the export is aborted.
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream, lstatSync, readFileSync, writeFileSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LayerStore } from "../layers/layer-store.js";
import { BlobMemo } from "./blob-memo.js";
import { exportLayout, type ExportSource } from "./export.js";
import { exportArchive } from "./export-archive.js";
import { importImage } from "./import.js";
import { readLayout } from "./layout.js";
import { unpackPlain } from "./unpack.js";
import { makeLayers, memStore, sh, treeHash, UID } from "./testing/layers-fixture.js";
import { COMPRESSORS } from "./testing/compressors.js";

const isRoot = process.getuid?.() === 0;

async function toFile(stream: Readable, path: string): Promise<string> {
  await pipeline(stream, createWriteStream(path));
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/** Waits until `dir` is empty (the cleanup after a destroyed stream runs in the background). */
async function emptied(dir: string): Promise<string[]> {
  for (let i = 0; i < 200; i++) {
    const left = await readdir(dir);
    if (left.length === 0) return left;
    await new Promise((r) => setTimeout(r, 25));
  }
  return readdir(dir);
}

/** This process's tar (and sbx-deflate) children, once they are gone (or what is left after 5 s). */
async function childTars(): Promise<string[]> {
  const list = () =>
    sh("ps", ["-o", "pid=,comm=", "--ppid", String(process.pid)])
      .split("\n")
      .filter((l) => / (tar|sbx-deflate)$/.test(l.trim()));
  for (let i = 0; i < 200 && list().length > 0; i++) await new Promise((r) => setTimeout(r, 25));
  return list();
}

// Each compressor the daemon may use: sbx-deflate (one gzip member per block) and zlib (one member).
describe.runIf(isRoot).each(COMPRESSORS)("OCI archive export (streamed), gzip by %s", (_name, gzip) => {
  let root: string;
  let spool: string;
  let src: ExportSource;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "sbx-ociarc-"));
    spool = join(root, "spool");
    src = makeLayers(root, gzip);
    // A third layer big enough (4 MiB of random bytes) to be mid-stream when a reader leaves.
    const big = join(root, "big");
    await mkdir(big);
    writeFileSync(join(big, "random.bin"), randomBytes(4 << 20));
    sh("chown", ["-R", `${UID}:${UID}`, big]);
    src = { ...src, layers: [...src.layers, { dir: big, uidBase: UID, ...(gzip ? { gzip } : {}) }] };
  });
  afterAll(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  it("is a layout tar skopeo and umoci read, with the blobs exportLayout writes, imported back to the same trees", async () => {
    const file = join(root, "a.tar");
    await toFile(await exportArchive(src, { tmpDir: spool, memo: new BlobMemo() }), file);
    const dir = await exportLayout(src, join(root, "layout"));
    // The archive's manifest is the layout's: same config, same layer blobs.
    const raw = JSON.parse(sh("skopeo", ["inspect", "--raw", `oci-archive:${file}:1`])) as { layers: unknown[] };
    expect(raw.layers).toEqual(dir.layers);
    // The compressor under test made the blobs (libdeflate's gzip header: XFL 4, OS 255; zlib's here: 0, 3).
    for (const l of dir.layers) {
      const head = readFileSync(join(root, "layout", "blobs", "sha256", l.digest.slice(7))).subarray(8, 10);
      expect([...head]).toEqual(gzip ? [4, 255] : [0, 3]);
    }
    expect(sh("tar", ["-tf", file]).split("\n").filter(Boolean)).toEqual([
      "oci-layout",
      "blobs/",
      "blobs/sha256/",
      ...dir.layers.map((l) => `blobs/sha256/${l.digest.slice(7)}`),
      `blobs/sha256/${dir.config.digest.slice(7)}`,
      `blobs/sha256/${dir.manifest.digest.slice(7)}`,
      "index.json",
    ]);
    sh("skopeo", ["copy", "--quiet", `oci-archive:${file}:1`, `oci:${join(root, "copied")}:1`]);
    const bundle = join(root, "bundle");
    sh("umoci", ["unpack", "--image", `${join(root, "copied")}:1`, bundle]);
    expect(readFileSync(join(bundle, "rootfs/data/new"), "utf8")).toBe("new\n");
    expect(() => lstatSync(join(bundle, "rootfs/etc/gone"))).toThrow();
    expect(lstatSync(join(bundle, "rootfs/home/app")).uid).toBe(1000);

    // sbx's own import of the archive: the same trees as the layers exported.
    const unpacked = join(root, "unpacked");
    await mkdir(unpacked);
    await unpackPlain(createReadStream(file), unpacked, 1 << 30);
    const img = await importImage(
      await readLayout(unpacked),
      { layers: new LayerStore(join(root, "layers")), store: memStore(), uidBase: UID },
      { project: "p", name: "t", tag: "1", replace: false, source: "oci" },
    );
    expect(treeHash(img.baseDir)).toBe(treeHash(src.layers[0]!.dir));
    expect(img.layers.map((l) => treeHash(l.dir))).toEqual(src.layers.slice(1).map((l) => treeHash(l.dir)));
    expect(await readdir(spool)).toEqual([]);
  });

  it("writes the same bytes every time: spooled in memory or in a file, or streamed from what an export learned", async () => {
    const memo = new BlobMemo();
    const a = await toFile(await exportArchive(src, { tmpDir: spool, memo }), join(root, "d1.tar"));
    // Every layer is known now: no spool even with memoryLimit 0, and the same bytes.
    const streamed = await exportArchive(src, { tmpDir: spool, memoryLimit: 0, memo });
    const b = toFile(streamed, join(root, "d2.tar"));
    await new Promise<void>((resolve) => streamed.once("data", () => resolve()));
    expect(await readdir(spool)).toEqual([]);
    const c = await toFile(
      await exportArchive(src, { tmpDir: spool, memoryLimit: 0, memo: new BlobMemo() }),
      join(root, "d3.tar"),
    );
    expect(await b).toBe(a);
    expect(c).toBe(a);
    expect(await readdir(spool)).toEqual([]);
  });

  it("fails the stream, and forgets the layer, when a layer no longer matches what the memo says", async () => {
    const memo = new BlobMemo();
    const good = await toFile(await exportArchive(src, { tmpDir: spool, memo }), join(root, "m1.tar"));
    const key = await memo.key(src.layers[1]!);
    const blob = memo.get(key)!;
    // Another digest (same size): caught at the layer's end. A smaller size: caught as soon as it is passed.
    for (const wrong of [
      { ...blob, desc: { ...blob.desc, digest: `sha256:${"0".repeat(64)}` } },
      { ...blob, desc: { ...blob.desc, size: blob.desc.size - 1 } },
    ]) {
      memo.set(key, wrong);
      await expect(toFile(await exportArchive(src, { tmpDir: spool, memo }), join(root, "m2.tar"))).rejects.toThrow(
        /changed since|larger than its recorded/,
      );
      expect(memo.get(key)).toBeUndefined();
    }
    expect(await toFile(await exportArchive(src, { tmpDir: spool, memo }), join(root, "m3.tar"))).toBe(good);
    expect(await emptied(spool)).toEqual([]);
  }, 30_000); // four exports of real layers, and a bounded wait: slow on a loaded machine

  it("leaves no spool file when the reader goes away mid-stream or the export is aborted", async () => {
    // Spooled to files (memoryLimit 0), destroyed after the first chunk: layers 2 and 3 are spooled or in the making.
    const stream = await exportArchive(src, { tmpDir: spool, memoryLimit: 0, memo: new BlobMemo() });
    await new Promise<void>((resolve) => stream.once("data", () => resolve()));
    expect((await readdir(spool)).length).toBeGreaterThan(0); // the first layer's file, at least
    stream.destroy();
    expect(await emptied(spool)).toEqual([]);

    // Streamed from the memo, the reader leaves while the producer waits on it: tar is stopped too.
    const memo = new BlobMemo();
    await toFile(await exportArchive(src, { tmpDir: spool, memo }), join(root, "s1.tar"));
    const streamed = await exportArchive(src, { tmpDir: spool, memo });
    await new Promise<void>((resolve) => streamed.once("data", () => resolve()));
    streamed.destroy();
    expect(await childTars()).toEqual([]);
    expect(await readdir(spool)).toEqual([]);

    const ac = new AbortController();
    ac.abort(new Error("client went away"));
    await expect(
      exportArchive(src, { tmpDir: spool, memoryLimit: 0, signal: ac.signal, memo: new BlobMemo() }),
    ).rejects.toThrow();
    expect(await readdir(spool)).toEqual([]);
    // Room for the bounded waits above (up to 5 s each): under a loaded full run a leftover then
    // shows as what is left, not as a timeout that names nothing.
  }, 30_000);
});
