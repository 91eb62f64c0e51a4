// OCI export: an image's layer dirs (base rootfs first) as gzip tar blobs with OCI whiteouts and
// container ids, plus config, manifest, index.json and oci-layout. Two forms: exportArchive()
// streams the layout as one tar (the HTTP export), each layer produced in one pass and spooled
// only until its size and digest are known for the tar header; exportLayout() writes the same
// blobs into a directory (registry push). Both are byte-deterministic for a given image.
import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { SbxError } from "@sbx-sh/protocol";
import type { ImageRecord } from "../domain/records.js";
import { MEDIA, ociArch, sha256, type Descriptor, type ImageConfigJson, type ManifestJson } from "./layout.js";
import { produceLayerBlob, type ExportLayer, type LayerBlob } from "./layer-blob.js";
import { MemoryBudget, Spool } from "./spool.js";
import { encodeHeader, padding, TAR_END } from "./tar.js";

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
const SPOOL_MEMORY = new MemoryBudget(128 << 20);

/** Temp names the OCI service's start-up sweep removes if a killed daemon left them. */
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
function documents(src: ExportSource, made: LayerBlob[]) {
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
function producers<T>(
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

/** Writes a complete OCI image layout into `out` (created if missing); returns the manifest descriptor. */
export async function exportLayout(
  src: ExportSource,
  out: string,
): Promise<{ manifest: Descriptor; layers: Descriptor[]; config: Descriptor }> {
  if (src.layers.length === 0) throw new SbxError("invalid_argument", `image ${src.name} has no layers to export`);
  const blobs = join(out, "blobs", "sha256");
  await mkdir(blobs, { recursive: true });
  const spools = src.layers.map(
    () => new Spool({ path: join(blobs, `.tmp-${randomBytes(6).toString("hex")}`), memoryLimit: 0 }),
  );
  const run = producers(src.layers.length, (i) => produceLayerBlob(src.layers[i]!, spools[i]!));
  try {
    const made: LayerBlob[] = [];
    for (let i = 0; i < src.layers.length; i++) {
      made.push(await run.take(i));
      await spools[i]!.moveTo(join(blobs, made[i]!.desc.digest.slice(7)));
    }
    const d = documents(src, made);
    await writeFile(join(blobs, d.config.digest.slice(7)), d.configData);
    await writeFile(join(blobs, d.manifest.digest.slice(7)), d.manifestData);
    await writeFile(join(out, "index.json"), d.indexData);
    await writeFile(join(out, "oci-layout"), d.layoutData);
    return { manifest: d.manifest, layers: made.map((m) => m.desc), config: d.config };
  } finally {
    await Promise.allSettled(run.all());
    await Promise.all(spools.map((s) => s.discard()));
  }
}

/** One layer's blob written into `blobsDir` under its digest (cluster content pushes it from there). */
export async function writeLayerBlob(layer: ExportLayer, blobsDir: string): Promise<LayerBlob> {
  const spool = new Spool({ path: join(blobsDir, `.tmp-${randomBytes(6).toString("hex")}`), memoryLimit: 0 });
  try {
    const blob = await produceLayerBlob(layer, spool);
    await spool.moveTo(join(blobsDir, blob.desc.digest.slice(7)));
    return blob;
  } finally {
    await spool.discard();
  }
}

/** The outer tar's header for one member (owners 0, the image's time: the archive depends on the image only). */
function member(path: string, size: number, mtime: number, dir = false): Buffer {
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

function* small(path: string, data: Buffer, mtime: number): Generator<Buffer> {
  yield member(path, data.length, mtime);
  yield data;
  yield padding(data.length);
}

export interface ArchiveOptions {
  /** Directory for spool files (on a disk: a layer that outgrows memory goes there). */
  tmpDir: string;
  /** Bytes of one compressed layer kept in memory before it spills to a file (default 64 MiB). */
  memoryLimit?: number;
  /** Aborts the export (the client went away before the stream was handed over). */
  signal?: AbortSignal;
}

/**
 * The image as one OCI layout tar: oci-layout, the layer blobs in order, then config, manifest and
 * index.json (known once every layer is). The first layer is made before this returns, so a
 * layer that cannot be read is an error, not a cut stream. Destroying the stream stops tar and
 * the compression and removes every spool file.
 */
export async function exportArchive(src: ExportSource, o: ArchiveOptions): Promise<Readable> {
  if (src.layers.length === 0) throw new SbxError("invalid_argument", `image ${src.name} has no layers to export`);
  const ac = new AbortController();
  const onAbort = (): void => ac.abort(o.signal?.reason);
  if (o.signal?.aborted) onAbort();
  else o.signal?.addEventListener("abort", onAbort, { once: true });
  const spools = src.layers.map(
    () => new Spool({ path: tempName(o.tmpDir), memoryLimit: o.memoryLimit ?? 64 << 20, budget: SPOOL_MEMORY }),
  );
  const run = producers(src.layers.length, (i) => produceLayerBlob(src.layers[i]!, spools[i]!, ac.signal));
  const cleanup = async (): Promise<void> => {
    ac.abort();
    o.signal?.removeEventListener("abort", onAbort);
    await Promise.allSettled(run.all());
    await Promise.all(spools.map((s) => s.discard()));
  };
  try {
    await mkdir(o.tmpDir, { recursive: true, mode: 0o700 });
    await run.take(0);
  } catch (err) {
    await cleanup();
    throw err;
  }
  const mtime = Math.max(0, Math.floor(Date.parse(src.createdAt) / 1000) || 0);
  async function* body(): AsyncGenerator<Buffer> {
    try {
      const d0 = documents(src, []);
      yield* small("oci-layout", d0.layoutData, mtime);
      yield member("blobs/", 0, mtime, true);
      yield member("blobs/sha256/", 0, mtime, true);
      const made: LayerBlob[] = [];
      const sent = new Set<string>();
      for (let i = 0; i < src.layers.length; i++) {
        const m = await run.take(i);
        made.push(m);
        const spool = spools[i]!;
        if (!sent.has(m.desc.digest)) {
          sent.add(m.desc.digest);
          yield member(`blobs/sha256/${m.desc.digest.slice(7)}`, m.desc.size, mtime);
          const data = spool.read();
          if (Array.isArray(data)) yield* data;
          else for await (const c of data) yield c as Buffer;
          yield padding(m.desc.size);
        }
        await spool.discard();
      }
      const d = documents(src, made);
      yield* small(`blobs/sha256/${d.config.digest.slice(7)}`, d.configData, mtime);
      yield* small(`blobs/sha256/${d.manifest.digest.slice(7)}`, d.manifestData, mtime);
      yield* small("index.json", d.indexData, mtime);
      yield TAR_END;
    } finally {
      await cleanup();
    }
  }
  const stream = Readable.from(body(), { objectMode: false, highWaterMark: 1 << 20 });
  // Destroyed early (the client went away): stop the producers now, not at the generator's next step.
  // Destroyed before its first read, the generator never runs its finally: cleanup runs from here too
  // (it is safe twice), so spools give back their memory budget and their files.
  stream.on("close", () => void cleanup());
  return stream;
}
