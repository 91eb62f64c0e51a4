// A node's side of restoring cluster content it does not hold: the control plane names a snapshot
// and its manifest digest (its PostgreSQL record), and this node pulls what it lacks from the
// cluster registry by digest, checks every blob's digest and every layer's diff id (the registry
// client and the OCI unpacker both verify), puts the layers in its layer store, and recreates the
// snapshot record under the same id, so `create({ snapshotId })` then works as on one host. Pulled
// snapshots form a bounded cache (content-cache.ts): past the budget, the least recently used one
// that no sandbox here stands on is dropped (its record, then its layers by garbage collection).
import { existsSync } from "node:fs";
import { mkdir, readFile, rm, statfs, writeFile } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { SbxError } from "@sbx-sh/protocol";
import type { ImageLayerRef, ImageRecord, SnapshotRecord } from "../domain/records.js";
import type { Logger } from "../common/log.js";
import type { LayerStore } from "../layers/layer-store.js";
import { importedLayerKey } from "../oci/import.js";
import { MANIFEST_TYPES, MEDIA, type ImageConfigJson, type ManifestJson } from "../oci/layout.js";
import { unpackLayer } from "../oci/unpack.js";
import type { ImageGc } from "../services/image-gc.js";
import type { ImageService } from "../services/images.js";
import type { LayersInUse } from "../services/layers-in-use.js";
import type { ImageStore, Store } from "../store/store.js";
import { ContentCache, type CacheEntry } from "./content-cache.js";
import { imageFromContent, parseImageMeta, type ImageMeta } from "./content-image.js";
import { CONTENT_ANNOTATION, contentClient, parseContentMeta, type ContentMeta } from "./content-registry.js";

export interface FetchDeps {
  registry: string;
  layers: LayerStore;
  images: ImageStore;
  meta: Store;
  bases: Pick<ImageService, "resolveBase">;
  gc: ImageGc;
  inUse: LayersInUse;
  uidBase: number;
  tmpDir: string;
  /** Where the cache's order is kept across restarts. */
  cacheFile: string;
  budgetBytes: number;
  log: Logger;
}

export class ContentFetcher {
  private readonly busy = new Set<string>();
  private readonly running = new Map<string, Promise<SnapshotRecord | ImageRecord>>();
  private cache: ContentCache | undefined;

  constructor(private readonly d: FetchDeps) {
    d.inUse.add(() => this.busy);
  }

  /** The snapshot, pulled unless this node has it; refused if the registry's copy is not what the record says. */
  fetchSnapshot(project: string, id: string, manifest: string): Promise<SnapshotRecord> {
    // Only the same pull is joined: another project's request for this id gets its own answer.
    const key = `${project}\n${id}\n${manifest}`;
    const inFlight = this.running.get(key);
    if (inFlight) return inFlight as Promise<SnapshotRecord>;
    const p = this.fetchOnce(project, id, manifest).finally(() => this.running.delete(key));
    this.running.set(key, p);
    return p;
  }

  /** The image (by its ref), pulled unless this node has it; refused if the registry's copy is not what the record says. */
  fetchImage(
    project: string,
    ref: string,
    manifest: string,
    want: { name: string; tag: string },
  ): Promise<ImageRecord> {
    const key = `image\n${project}\n${ref}\n${manifest}\n${want.name}:${want.tag}`;
    const inFlight = this.running.get(key);
    if (inFlight) return inFlight as Promise<ImageRecord>;
    const p = this.fetchImageOnce(project, ref, manifest, want).finally(() => this.running.delete(key));
    this.running.set(key, p);
    return p;
  }

  private async fetchImageOnce(
    project: string,
    ref: string,
    manifestDigest: string,
    want: { name: string; tag: string },
  ): Promise<ImageRecord> {
    const cache = await this.loadCache();
    const have = (await this.d.images.listAllImages()).find((i) => i.ref === ref);
    if (have && have.project === project && have.deletedAt === null) {
      if (cache.has(ref)) {
        cache.touch(ref);
        await this.saveCache();
      }
      return have;
    }
    if (have) throw new SbxError("failed_precondition", `image ${ref} exists on this node but cannot be used`);
    let meta: ImageMeta | undefined;
    const pulled = await this.pullStack(project, manifestDigest, (raw) => {
      meta = parseImageMeta(raw);
      if (meta.ref !== ref || meta.project !== project || meta.name !== want.name || meta.tag !== want.tag)
        throw new SbxError("invalid_archive", `content ${manifestDigest} describes another image`);
      return { steps: meta.steps, baseRecipe: meta.baseRecipe, systemd: meta.config.systemd };
    });
    const img = imageFromContent(meta!, pulled.stack, pulled.baseDir);
    try {
      // The control plane's record is the truth: an older image of this name here is replaced.
      await this.d.images.registerImage(img, true);
    } finally {
      for (const k of pulled.held) this.busy.delete(k);
    }
    this.d.log.info(
      { image: `${img.name}:${img.tag}`, ref, manifest: manifestDigest, layers: pulled.refs.length },
      "image pulled from the cluster registry",
    );
    await this.remember(cache, ref, pulled.refs);
    return img;
  }

  private async fetchOnce(project: string, id: string, manifestDigest: string): Promise<SnapshotRecord> {
    const cache = await this.loadCache();
    const have = await this.d.images.getSnapshot(id);
    if (have && have.project === project && have.status === "completed") {
      if (cache.has(id)) {
        cache.touch(id);
        await this.saveCache();
      }
      return have;
    }
    if (have) throw new SbxError("failed_precondition", `snapshot ${id} exists on this node but cannot be restored`);
    let meta: ContentMeta | undefined;
    const pulled = await this.pullStack(project, manifestDigest, (raw) => {
      meta = parseContentMeta(raw);
      if (meta.id !== id || meta.project !== project)
        throw new SbxError("invalid_archive", `content ${manifestDigest} describes another snapshot`);
      return { steps: meta.steps, baseRecipe: meta.baseRecipe, systemd: meta.config.systemd };
    });
    const m = meta!;
    const sizeBytes = pulled.stack.reduce((a, l) => a + l.sizeBytes, 0);
    const now = new Date().toISOString();
    const rec: SnapshotRecord = {
      id,
      project,
      type: "filesystem",
      status: "completed",
      sourceSandboxId: m.sourceSandboxId,
      sourceImage: m.sourceImage,
      sourceImageId: m.sourceImageId,
      parentSnapshotId: null,
      forSuspend: false,
      layers: pulled.stack,
      baseDir: pulled.baseDir,
      baseImage: m.baseImage,
      config: { ...m.config, entrypoint: null, cmd: null },
      sizeBytes,
      error: null,
      createdAt: now,
      completedAt: now,
    };
    try {
      await this.d.images.insertSnapshot(rec);
    } finally {
      for (const k of pulled.held) this.busy.delete(k);
    }
    this.d.log.info(
      { snapshot: id, manifest: manifestDigest, layers: pulled.refs.length, sizeBytes },
      "snapshot pulled from the cluster registry",
    );
    await this.remember(cache, id, pulled.refs);
    return rec;
  }

  /** The pulled entry counts what this pull added (not reused layers); then the cache is kept to its budget. */
  private async remember(cache: ContentCache, key: string, refs: ImageLayerRef[]): Promise<void> {
    cache.touch(
      key,
      refs.filter((r) => !r.cached).reduce((a, r) => a + r.sizeBytes, 0),
    );
    // Never the one just pulled (its create has not made the sandbox yet); a failed eviction
    // is logged, never the create's failure.
    await this.evict(cache, key).catch((err: unknown) =>
      this.d.log.warn({ err: err instanceof Error ? err.message : String(err) }, "content cache: eviction failed"),
    );
  }

  /**
   * Fetches the manifest by digest, checks it (`describe` parses its annotation), and puts each layer
   * this node lacks in the layer store, verified by digest and diff id. The layer keys stay held from
   * garbage collection (`held`) until the caller's record names them.
   */
  private async pullStack(
    project: string,
    manifestDigest: string,
    describe: (annotation: string | undefined) => {
      steps: string[];
      baseRecipe: { name: string; id: string } | null;
      systemd: boolean;
    },
  ): Promise<{ refs: ImageLayerRef[]; stack: ImageLayerRef[]; baseDir: string; held: string[] }> {
    const client = contentClient(this.d.registry, null, manifestDigest);
    const got = await client.getManifest(manifestDigest);
    if (!MANIFEST_TYPES.includes(got.mediaType))
      throw new SbxError("invalid_archive", `content ${manifestDigest} is not an image manifest`);
    const m = JSON.parse(got.data.toString()) as ManifestJson & { annotations?: Record<string, string> };
    const meta = describe(m.annotations?.[CONTENT_ANNOTATION]);
    // A node pushes at most MAX_STACK_DEPTH layers plus a base: anything longer was not made by one.
    if (!Array.isArray(m.layers) || m.layers.length > 64 || !m.config || !(m.config.size <= 8 << 20))
      throw new SbxError("invalid_archive", `content ${manifestDigest} is malformed`);
    // Declared sizes are checked before a byte is fetched: gzip layers only, and no more than the
    // data disk has free (the registry is not trusted to keep a node's disk).
    if (!m.layers.every((l) => l?.mediaType === MEDIA.layerGzip && Number.isSafeInteger(l.size) && l.size >= 0))
      throw new SbxError("invalid_archive", `content ${manifestDigest}: its layers are not sized gzip layers`);
    const declared = m.layers.reduce((a, l) => a + l.size, 0);
    await mkdir(this.d.tmpDir, { recursive: true, mode: 0o700 });
    const disk = await statfs(this.d.tmpDir);
    if (declared > disk.bavail * disk.bsize)
      throw new SbxError(
        "no_space",
        `content ${manifestDigest} declares ${declared} bytes: more than this node has free`,
      );
    // Host ids (uid base 0) only for a base recipe this node itself builds with them, never on the registry's word.
    const base = meta.baseRecipe ? await this.d.bases.resolveBase(meta.baseRecipe.name, project) : null;
    if (meta.systemd && !base?.config.systemd)
      throw new SbxError("invalid_archive", `content ${manifestDigest} claims host ids its base does not have here`);
    const dir = join(this.d.tmpDir, `content-${randomBytes(6).toString("hex")}`);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await mkdir(this.d.layers.root, { recursive: true, mode: 0o700 });
    const uidBase = meta.systemd ? 0 : this.d.uidBase;
    const held: string[] = [];
    let done = false;
    try {
      await client.getBlob(m.config.digest, m.config.size, join(dir, "config"));
      const config = JSON.parse(await readFile(join(dir, "config"), "utf8")) as ImageConfigJson;
      const diffIds = config.rootfs?.diff_ids ?? [];
      const wantLayers = meta.steps.length + (meta.baseRecipe ? 0 : 1);
      if (diffIds.length !== m.layers.length || m.layers.length !== wantLayers)
        throw new SbxError("invalid_archive", `content ${manifestDigest}: its layers, diff ids and steps disagree`);
      const refs: ImageLayerRef[] = [];
      for (const [i, l] of m.layers.entries()) {
        const diffId = diffIds[i]!;
        const key = importedLayerKey(diffId, uidBase, project);
        held.push(key);
        this.busy.add(key);
        const step =
          i < m.layers.length - meta.steps.length ? "base" : meta.steps[i - (m.layers.length - meta.steps.length)]!;
        const local = await this.d.images.getLayer(key);
        if (local?.dir && local.digest && existsSync(local.dir)) {
          refs.push({ key, digest: local.digest, dir: local.dir, sizeBytes: local.sizeBytes, step, cached: true });
          continue;
        }
        const blob = join(dir, `layer-${i}`);
        await client.getBlob(l.digest, l.size, blob);
        const unpacked = join(this.d.layers.root, `.oci-${randomBytes(6).toString("hex")}`);
        try {
          await unpackLayer(
            { path: blob, digest: l.digest, size: l.size, compression: "gzip", diffId },
            unpacked,
            uidBase,
          );
          const made = await this.d.layers.adopt(unpacked, key);
          await this.d.images.putLayer({
            key,
            digest: made.digest,
            dir: made.dir,
            sizeBytes: made.sizeBytes,
            step,
            createdAt: new Date().toISOString(),
          });
          refs.push({ key, digest: made.digest, dir: made.dir, sizeBytes: made.sizeBytes, step, cached: false });
        } finally {
          await rm(unpacked, { recursive: true, force: true });
          await rm(blob, { force: true });
        }
      }
      done = true;
      if (meta.baseRecipe && base) {
        if (base.id !== meta.baseRecipe.id)
          this.d.log.warn(
            { manifest: manifestDigest, base: base.name, here: base.id, there: meta.baseRecipe.id },
            "base recipe differs between nodes",
          );
        return { refs, stack: refs, baseDir: base.dir, held };
      }
      return { refs, stack: refs.slice(1), baseDir: refs[0]!.dir, held };
    } finally {
      if (!done) for (const k of held) this.busy.delete(k);
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Drops the least recently used pulled snapshots past the budget; those a sandbox stands on stay. */
  private async evict(cache: ContentCache, keep: string): Promise<void> {
    const live = await this.d.meta.listSandboxes({ includeTerminated: false });
    const standing = new Set(live.flatMap((s) => [s.snapshotId, s.suspendSnapshotId]).filter(Boolean));
    const lowers = new Set(live.flatMap((s) => s.lowers ?? []));
    const snaps = new Map((await this.d.images.listSnapshots()).map((s) => [s.id, s]));
    // Pulled images are cached under their ref; a sandbox stands on one by its layers.
    const images = new Map((await this.d.images.listAllImages()).map((i) => [i.ref, i]));
    const dropped = cache.evict((id) => {
      if (id === keep) return true;
      const s = snaps.get(id) ?? images.get(id);
      return !!s && (standing.has(id) || s.layers.some((l) => lowers.has(l.dir)));
    });
    for (const e of dropped) {
      if (snaps.has(e.key)) await this.d.images.deleteSnapshot(e.key);
      else if (images.has(e.key)) await this.d.images.deleteImage(e.key);
    }
    await this.saveCache();
    if (dropped.length) {
      this.d.log.info({ evicted: dropped.map((e) => e.key), budget: cache.budgetBytes }, "content cache: evicted");
      await this.d.gc.collect();
    }
  }

  private async loadCache(): Promise<ContentCache> {
    if (this.cache) return this.cache;
    let entries: CacheEntry[] = [];
    try {
      entries = (JSON.parse(await readFile(this.d.cacheFile, "utf8")) as { entries: CacheEntry[] }).entries;
    } catch {
      // First use, or an unreadable file: start empty (what it listed stays as ordinary snapshots).
    }
    this.cache = new ContentCache(this.d.budgetBytes, entries);
    return this.cache;
  }

  private async saveCache(): Promise<void> {
    if (!this.cache) return;
    await writeFile(this.d.cacheFile, JSON.stringify({ entries: this.cache.snapshot() }), { mode: 0o600 });
  }
}
