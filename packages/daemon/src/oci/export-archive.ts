// The HTTP export: an image as one OCI layout tar, streamed. A layer whose blob an earlier export
// left in the BlobCache is sent from that file (its digest checked as it goes). A layer an earlier
// export made but whose blob is not cached (its digest and size are in BlobMemo) streams while it
// is compressed, after a tar header written from the memo, and is checked against the memo at its
// end. A layer seen for the first time is spooled (oci/spool.ts) until compressed, since the
// header needs its size and digest, and its blob then goes into the cache; in the patched form
// (export-pieces.ts) it streams as it is compressed, after a hole its header fills later, and is
// spooled too, for the cache. Either way each layer is read once and compressed at most once.
import { createHash } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { Readable } from "node:stream";
import { HOLE_SIZE, SbxError } from "@sbx-sh/protocol";
import { BLOB_MEMO, type BlobMemo } from "./blob-memo.js";
import type { BlobCache, CachedBlob } from "./blob-cache.js";
import { StreamSink, TeeSink } from "./blob-sink.js";
import { Hole, patchedForm, plainForm, type Piece } from "./export-pieces.js";
import { documents, member, producers, small, SPOOL_MEMORY, tempName, type ExportSource } from "./export.js";
import { produceLayerBlob, type LayerBlob } from "./layer-blob.js";
import { Spool } from "./spool.js";
import { padding, TAR_END } from "./tar-write.js";

/** The largest blob a 512-byte (ustar) header can announce: a bigger one is sent from its spool. */
const USTAR_MAX_SIZE = 0o77777777777;

export interface ArchiveOptions {
  /** Directory for spool files (on a disk: a layer that outgrows memory goes there). */
  tmpDir: string;
  /**
   * Bytes of one compressed layer kept in memory before it spills to a file (default 64 MiB; 0, i.e.
   * straight to the file, for a layer streamed in the patched form with a cache to keep it for).
   */
  memoryLimit?: number;
  /** Aborts the export (the client went away before the stream was handed over). */
  signal?: AbortSignal;
  /** What earlier exports learned about layers (default: the daemon's). */
  memo?: BlobMemo;
  /** Blobs earlier exports made, on disk (none: every layer is compressed). */
  cache?: BlobCache;
  /** "patched": patched-tar records (a first-time layer streams as it is compressed); default the plain tar. */
  form?: "tar" | "patched";
  /** Patched form: the largest blob streamed before its header (default: what a ustar header can announce). */
  streamLimit?: number;
}

/** How one layer gets into the archive: sent from the cache, spooled then copied, or streamed as it is compressed. */
type Plan =
  | { kind: "cached"; key: string; cached: CachedBlob }
  | { kind: "spool"; key: string | undefined; spool: Spool; cached: boolean; tee?: TeeSink }
  | { kind: "stream"; key: string; known: LayerBlob; sink: StreamSink };

/**
 * The image as one OCI layout tar: oci-layout, the layer blobs in order, then config, manifest and
 * index.json (known once every layer is). A first layer that is spooled is made before this
 * returns, so a layer that cannot be read is an error, not a cut stream. Destroying the stream
 * stops tar and the compression and removes every spool file.
 */
export async function exportArchive(src: ExportSource, o: ArchiveOptions): Promise<Readable> {
  if (src.layers.length === 0) throw new SbxError("invalid_argument", `image ${src.name} has no layers to export`);
  const memo = o.memo ?? BLOB_MEMO;
  const ac = new AbortController();
  const onAbort = (): void => ac.abort(o.signal?.reason);
  if (o.signal?.aborted) onAbort();
  else o.signal?.addEventListener("abort", onAbort, { once: true });
  const keys = await Promise.all(src.layers.map((l) => memo.key(l)));
  const found = await Promise.all(keys.map((key) => o.cache?.get(key)));
  const plans: Plan[] = keys.map((key, i) => {
    const cached = found[i];
    if (cached) return { kind: "cached", key: key!, cached };
    const known = memo.get(key);
    return known ? { kind: "stream", key: key!, known, sink: new StreamSink(known.desc.size) } : spoolPlan(key);
  });
  function spoolPlan(key: string | undefined): Plan {
    const tees = o.form === "patched";
    // Streamed as it is made, with a cache to keep it for, the spool is only the cache's copy: it
    // goes to its file as it comes. Held in memory, the whole blob (zlib's output buffers) kept V8
    // starting a full GC every ~150 ms of a first export (measured on debian-minimal's layer: 6-9
    // Mark-Compacts and ~0.2 s of GC threads' CPU per export; with the file, ~0.05 s).
    const memoryLimit = o.memoryLimit ?? (tees && o.cache ? 0 : 64 << 20);
    const spool = new Spool({ path: tempName(o.tmpDir), memoryLimit, budget: SPOOL_MEMORY });
    const tee = tees ? new TeeSink(spool, o.streamLimit ?? USTAR_MAX_SIZE) : undefined;
    return { kind: "spool", key, spool, cached: false, ...(tee ? { tee } : {}) };
  }
  const produce = async (i: number): Promise<LayerBlob> => {
    const plan = plans[i]!;
    if (plan.kind === "cached") return plan.cached.blob;
    if (plan.kind === "spool") {
      try {
        const blob = await produceLayerBlob(src.layers[i]!, plan.tee ?? plan.spool, ac.signal);
        memo.set(plan.key, blob);
        return blob;
      } catch (err) {
        plan.tee?.fail(err); // the archive may be reading its stream
        throw err;
      }
    }
    try {
      const blob = await produceLayerBlob(src.layers[i]!, plan.sink, ac.signal);
      if (
        blob.desc.digest !== plan.known.desc.digest ||
        blob.desc.size !== plan.known.desc.size ||
        blob.diffId !== plan.known.diffId
      )
        throw new SbxError("runtime_error", `layer ${src.layers[i]!.dir} changed since it was last exported`);
      return blob;
    } catch (err) {
      memo.forget(plan.key);
      plan.sink.fail(err);
      throw err;
    }
  };
  const run = producers(src.layers.length, produce);
  /** Spools sent whole, for the cache: handed over by cleanup. */
  const handOver: Array<() => void> = [];
  const cleanup = async (): Promise<void> => {
    for (const h of handOver.splice(0)) h();
    ac.abort();
    o.signal?.removeEventListener("abort", onAbort);
    for (const p of plans) {
      if (p.kind === "stream") p.sink.fail(new Error("the export ended"));
      if (p.kind === "spool") p.tee?.fail(new Error("the export ended"));
    }
    await Promise.allSettled(run.all());
    await Promise.all(
      plans.map((p) =>
        p.kind === "cached"
          ? p.cached.handle.close().catch(() => undefined)
          : p.kind === "spool" && !p.cached
            ? p.spool.discard()
            : undefined,
      ),
    );
  };
  try {
    await mkdir(o.tmpDir, { recursive: true, mode: 0o700 });
    if (plans[0]!.kind === "spool" && !plans[0]!.tee) await run.take(0);
  } catch (err) {
    await cleanup();
    throw err;
  }
  const mtime = Math.max(0, Math.floor(Date.parse(src.createdAt) / 1000) || 0);
  async function* body(): AsyncGenerator<Piece> {
    try {
      const d0 = documents(src, []);
      yield* small("oci-layout", d0.layoutData, mtime);
      yield member("blobs/", 0, mtime, true);
      yield member("blobs/sha256/", 0, mtime, true);
      const made: LayerBlob[] = [];
      const sent = new Set<string>();
      for (let i = 0; i < src.layers.length; i++) {
        const plan = plans[i]!;
        if (plan.kind === "cached") {
          made.push(plan.cached.blob);
          const { digest, size } = plan.cached.blob.desc;
          if (sent.has(digest)) continue;
          sent.add(digest);
          yield member(`blobs/sha256/${digest.slice(7)}`, size, mtime);
          yield* sendCached(plan, o.cache!);
          yield padding(size);
          continue;
        }
        if (plan.kind === "stream") {
          const taken = run.take(i); // starts it (and the next ones) if not yet
          const digest = plan.known.desc.digest;
          const first = !sent.has(digest);
          sent.add(digest);
          if (first) yield member(`blobs/sha256/${digest.slice(7)}`, plan.known.desc.size, mtime);
          for await (const c of plan.sink.out) if (first) yield c as Buffer;
          made.push(await taken);
          if (first) yield padding(plan.known.desc.size);
          continue;
        }
        let m: LayerBlob;
        if (plan.tee) {
          // Patched form: the blob streams now; its header fills the hole once it is known, or the
          // hole and the blob are cut back (a blob already sent, or too big for a ustar header).
          const taken = run.take(i);
          const hole = new Hole();
          yield { hole };
          for await (const c of plan.tee.stream.out) yield c as Buffer;
          m = await taken;
          const header = member(`blobs/sha256/${m.desc.digest.slice(7)}`, m.desc.size, mtime);
          if (sent.has(m.desc.digest) || header.length !== HOLE_SIZE || plan.tee.overflowed) yield { cut: hole };
          else {
            sent.add(m.desc.digest);
            yield { fill: hole, header };
            yield padding(m.desc.size);
          }
        } else m = await run.take(i);
        made.push(m);
        if (!sent.has(m.desc.digest)) {
          sent.add(m.desc.digest);
          yield member(`blobs/sha256/${m.desc.digest.slice(7)}`, m.desc.size, mtime);
          const data = plan.spool.read();
          if (Array.isArray(data)) yield* data;
          else for await (const c of data) yield c as Buffer;
          yield padding(m.desc.size);
        }
        if (o.cache) {
          // The cache takes the spool over (its file, or its chunks written out) once the whole
          // export is sent, so that writing it competes with none of it; nothing waits for that.
          plan.cached = true;
          const { spool, key } = plan;
          const layer = src.layers[i]!;
          handOver.push(
            () => void o.cache!.put(key, layer, m, (path) => spool.moveTo(path)).finally(() => spool.discard()),
          );
        } else await plan.spool.discard();
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
  const form = o.form === "patched" ? patchedForm(body()) : plainForm(body());
  const stream = Readable.from(form, { objectMode: false, highWaterMark: 1 << 20 });
  // Destroyed early (the client went away): stop the producers now, not at the generator's next step.
  // Destroyed before its first read, the generator never runs its finally: cleanup runs from here too
  // (it is safe twice), so spools give back their memory budget and their files.
  stream.on("close", () => void cleanup());
  return stream;
}

/** A cached blob's bytes, hashed on the way: a blob that is not what its record says is dropped, and the export fails. */
async function* sendCached(plan: { key: string; cached: CachedBlob }, cache: BlobCache): AsyncGenerator<Buffer> {
  const { digest, size } = plan.cached.blob.desc;
  const hash = createHash("sha256");
  let n = 0;
  for await (const c of plan.cached.handle.createReadStream({ highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > size) break;
    hash.update(c);
    yield c;
  }
  if (n !== size || `sha256:${hash.digest("hex")}` !== digest) {
    await cache.drop(plan.key);
    throw new SbxError("runtime_error", `the cached blob ${digest} is damaged; it was removed (export again)`);
  }
}
