// OCI export: an image's layer dirs (base rootfs first) as gzip tar blobs with OCI whiteouts and
// container ids, plus config, manifest, index.json and oci-layout. Two forms: exportArchive()
// (export-archive.ts) streams the layout as one tar (the HTTP export); exportLayout() writes the
// same blobs into a directory (registry push). Both are byte-deterministic for a given image.
import { randomBytes } from "node:crypto";
import { copyFile, link, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { SbxError } from "@sbx-sh/protocol";
import type { ImageRecord } from "../domain/records.js";
import { MEDIA, ociArch, sha256, type Descriptor, type ImageConfigJson, type ManifestJson } from "./layout.js";
import { produceLayerBlob, type ExportLayer, type LayerBlob } from "./layer-blob.js";
import { MemoryBudget, Spool } from "./spool.js";
import { encodeHeader, padding } from "./tar-write.js";
import { BLOB_MEMO } from "./blob-memo.js";
import type { BlobCache, CachedBlob } from "./blob-cache.js";

export type { ExportLayer } from "./layer-blob.js";

export interface ExportSource {
  name: string;
  tag: string;
  createdAt: string;
  layers: ExportLayer[];
  config: ImageRecord["config"];
}

/** Layers produced at once: compression is the bottleneck and each layer already uses several cores. */
const LAYERS_AT_ONCE = 2;

/**
 * Memory all exports' spools share: debian-minimal's layer (44 MB gzipped) stays in memory, and
 * beyond this the data goes through a temp file (the page cache, mostly) instead.
 */
export const SPOOL_MEMORY = new MemoryBudget(128 << 20);

/**
 * Temp names the OCI service's start-up sweep removes if a killed daemon left them (in data/tmp;
 * inside a layout being written, the layout's own temp dir goes whole).
 */
export function tempName(dir: string): string {
  return join(dir, `oci-${randomBytes(6).toString("hex")}`);
}

export function ociConfig(src: ExportSource, diffIds: string[]): ImageConfigJson {
  const c = src.config;
  const config: ImageConfigJson["config"] = {
    Env: c.env,
    WorkingDir: c.workingDir || "/",
    User: c.user === "root" ? "" : c.user,
  };
  if (c.entrypoint) config.Entrypoint = c.entrypoint;
  if (c.cmd) config.Cmd = c.cmd;
  return {
    // The image's own creation time keeps the config (and so the manifest) stable across exports.
    created: src.createdAt || new Date(0).toISOString(),
    architecture: ociArch(),
    os: "linux",
    config,
    rootfs: { type: "layers", diff_ids: diffIds },
    history: src.layers.map(() => ({ created_by: "sbx", comment: `sbx image ${src.name}:${src.tag}` })),
  };
}

/** The config, manifest and index documents of an image whose layer blobs are made. */
export function documents(src: ExportSource, made: LayerBlob[]) {
  const configData = Buffer.from(
    JSON.stringify(
      ociConfig(
        src,
        made.map((m) => m.diffId),
      ),
    ),
  );
  const config: Descriptor = { mediaType: MEDIA.config, digest: sha256(configData), size: configData.length };
  const manifestJson: ManifestJson = {
    schemaVersion: 2,
    mediaType: MEDIA.manifest,
    config,
    layers: made.map((m) => m.desc),
  };
  const manifestData = Buffer.from(JSON.stringify(manifestJson));
  const manifest: Descriptor = { mediaType: MEDIA.manifest, digest: sha256(manifestData), size: manifestData.length };
  const index = {
    schemaVersion: 2,
    mediaType: MEDIA.index,
    manifests: [{ ...manifest, annotations: { "org.opencontainers.image.ref.name": src.tag } }],
  };
  return {
    config,
    configData,
    manifest,
    manifestData,
    indexData: Buffer.from(JSON.stringify(index)),
    layoutData: Buffer.from(JSON.stringify({ imageLayoutVersion: "1.0.0" })),
  };
}

/** Runs produce(i) for every layer, at most LAYERS_AT_ONCE ahead of the one `take` is waiting for. */
export function producers<T>(
  n: number,
  produce: (i: number) => Promise<T>,
): { take: (i: number) => Promise<T>; all: () => Promise<T>[] } {
  const started: Promise<T>[] = [];
  const startUpTo = (i: number): void => {
    while (started.length < Math.min(n, i + LAYERS_AT_ONCE)) {
      const p = produce(started.length);
      p.catch(() => undefined); // awaited in order by take()
      started.push(p);
    }
  };
  return {
    take: (i) => {
      startUpTo(i);
      return started[i]!;
    },
    all: () => started,
  };
}

/** produceLayerBlob, remembered in BLOB_MEMO so that a later archive export can stream this layer. */
export async function produceRemembered(layer: ExportLayer, spool: Spool, signal?: AbortSignal): Promise<LayerBlob> {
  const key = await BLOB_MEMO.key(layer);
  const blob = await produceLayerBlob(layer, spool, signal);
  BLOB_MEMO.set(key, blob);
  return blob;
}

/** A cached blob at `dest`: a hard link (the cache never writes a blob in place), else a copy. */
async function placeCached(hit: CachedBlob, dest: string): Promise<void> {
  try {
    await link(hit.path, dest).catch(() => copyFile(hit.path, dest));
  } finally {
    await hit.handle.close();
  }
}

/**
 * Writes a complete OCI image layout into `out` (created if missing); returns the manifest
 * descriptor. Blobs in `cache` are linked in, and the ones made here are added to it.
 */
export async function exportLayout(
  src: ExportSource,
  out: string,
  cache?: BlobCache,
): Promise<{ manifest: Descriptor; layers: Descriptor[]; config: Descriptor }> {
  if (src.layers.length === 0) throw new SbxError("invalid_argument", `image ${src.name} has no layers to export`);
  const blobs = join(out, "blobs", "sha256");
  await mkdir(blobs, { recursive: true });
  const spools = src.layers.map(() => new Spool({ path: tempName(blobs), memoryLimit: 0 }));
  const run = producers(src.layers.length, async (i) => {
    const key = await BLOB_MEMO.key(src.layers[i]!);
    const hit = await cache?.getVerified(key);
    return hit ? { key, blob: hit.blob, hit } : { key, blob: await produceRemembered(src.layers[i]!, spools[i]!) };
  });
  try {
    const made: LayerBlob[] = [];
    for (let i = 0; i < src.layers.length; i++) {
      const { key, blob, hit } = await run.take(i);
      made.push(blob);
      const dest = join(blobs, blob.desc.digest.slice(7));
      if (hit) await placeCached(hit, dest);
      else {
        await spools[i]!.moveTo(dest);
        await cache?.put(key, src.layers[i]!, blob, (path) => link(dest, path));
      }
    }
    const d = documents(src, made);
    await writeFile(join(blobs, d.config.digest.slice(7)), d.configData);
    await writeFile(join(blobs, d.manifest.digest.slice(7)), d.manifestData);
    await writeFile(join(out, "index.json"), d.indexData);
    await writeFile(join(out, "oci-layout"), d.layoutData);
    return { manifest: d.manifest, layers: made.map((m) => m.desc), config: d.config };
  } finally {
    // Cache hits not taken (an earlier layer failed) give their file back.
    for (const r of await Promise.allSettled(run.all()))
      if (r.status === "fulfilled") await r.value.hit?.handle.close().catch(() => undefined);
    await Promise.all(spools.map((s) => s.discard()));
  }
}

/** One layer's blob written into `blobsDir` under its digest (cluster content pushes it from there). */
export async function writeLayerBlob(layer: ExportLayer, blobsDir: string): Promise<LayerBlob> {
  const spool = new Spool({ path: tempName(blobsDir), memoryLimit: 0 });
  try {
    const blob = await produceRemembered(layer, spool);
    await spool.moveTo(join(blobsDir, blob.desc.digest.slice(7)));
    return blob;
  } finally {
    await spool.discard();
  }
}

/** The outer tar's header for one member (owners 0, the image's time: the archive depends on the image only). */
export function member(path: string, size: number, mtime: number, dir = false): Buffer {
  return encodeHeader({
    path,
    type: dir ? "dir" : "file",
    mode: dir ? 0o755 : 0o644,
    uid: 0,
    gid: 0,
    size,
    mtime,
    linkpath: "",
    devmajor: 0,
    devminor: 0,
    xattrs: {},
  });
}

export function* small(path: string, data: Buffer, mtime: number): Generator<Buffer> {
  yield member(path, data.length, mtime);
  yield data;
  yield padding(data.length);
}
