// A node's side of restoring cluster content it does not hold: the control plane names a snapshot
// (or an image, by its ref) and its manifest digest (its PostgreSQL record), and this node pulls
// what it lacks from the cluster registry by digest, checking every blob's digest and every
// layer's diff id (content-pull.ts), then recreates the snapshot (or image) record under the same
// id, so a create from it works as on one host. Pulled content forms a bounded cache
// (content-cache.ts): past the budget, the least recently used entry that no sandbox here stands
// on is dropped (its record, then its layers by garbage collection).
import { readFile, writeFile } from "node:fs/promises";
import { SbxError } from "@sbx-sh/protocol";
import type { ImageLayerRef, ImageRecord, SnapshotRecord } from "../domain/records.js";
import type { Logger } from "../common/log.js";
import type { CommittedLayer, LayerStore } from "../layers/layer-store.js";
import type { ImageGc } from "../services/image-gc.js";
import type { ImageService } from "../services/images.js";
import { HeldKeys, type LayersInUse } from "../services/layers-in-use.js";
import type { ImageStore, Store } from "../store/store.js";
import { ContentCache, type CacheEntry } from "./content-cache.js";
import { imageFromContent, parseImageMeta, type ImageMeta } from "./content-image.js";
import { pullStack } from "./content-pull.js";
import { parseContentMeta, registryTrouble, type ContentMeta } from "./content-registry.js";
import type { ClusterRegistry } from "./registry-access.js";

export interface FetchDeps {
  registry: ClusterRegistry;
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
  private readonly busy = new HeldKeys();
  private readonly layersInFlight = new Map<string, Promise<CommittedLayer>>();
  private readonly running = new Map<string, Promise<SnapshotRecord | ImageRecord>>();
  private cache: ContentCache | undefined;

  constructor(private readonly d: FetchDeps) {
    d.inUse.add(() => this.busy.keys());
  }

  /** The snapshot, pulled unless this node has it; refused if the registry's copy is not what the record says. */
  fetchSnapshot(project: string, id: string, manifest: string): Promise<SnapshotRecord> {
    // Only the same pull is joined: another project's request for this id gets its own answer.
    const key = `${project}\n${id}\n${manifest}`;
    const inFlight = this.running.get(key);
    if (inFlight) return inFlight as Promise<SnapshotRecord>;
    const p = this.fetchOnce(project, id, manifest)
      .catch((err: unknown) => {
        throw registryTrouble(this.d.registry.address, err);
      })
      .finally(() => this.running.delete(key));
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
    const p = this.fetchImageOnce(project, ref, manifest, want)
      .catch((err: unknown) => {
        throw registryTrouble(this.d.registry.address, err);
      })
      .finally(() => this.running.delete(key));
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
    const pulled = await pullStack(this.d, this.busy, this.layersInFlight, project, manifestDigest, (raw) => {
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
      this.busy.release(pulled.held);
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
    const pulled = await pullStack(this.d, this.busy, this.layersInFlight, project, manifestDigest, (raw) => {
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
      this.busy.release(pulled.held);
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
