// The daemon's OCI operations on a project's images: export as a layout tar stream, import from
// one, push to and pull from registries, and pulls for `FROM registry/repo:tag` in builds. Work
// happens in private temp dirs under the data dir, removed whatever the outcome.
import { existsSync } from "node:fs";
import { mkdir, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { SbxError, assertValidName } from "@sbx-sh/protocol";
import type { ImageService } from "./images.js";
import { HeldKeys, type LayersInUse } from "./layers-in-use.js";
import { parseImageRef } from "./images.js";
import type { LayerStore } from "../layers/layer-store.js";
import type { ImageStore } from "../store/store.js";
import type { ImageLayerRef, ImageRecord } from "../domain/records.js";
import { exportLayout, tempName, type ExportSource } from "../oci/export.js";
import { exportArchive } from "../oci/export-archive.js";
import { importedLayerKey, importImage } from "../oci/import.js";
import { readLayout } from "../oci/layout.js";
import { pullToLayout, pushLayout, type OnRegistryProgress, type TransferStats } from "../oci/registry.js";
import { RegistryClient, type RegistryAuth } from "../oci/registry-client.js";
import { parseRegistryRef } from "../oci/registry-ref.js";
import { unpackPlain } from "../oci/unpack.js";
import type { OutboundPolicy } from "../oci/outbound.js";
import type { BlobCache } from "../oci/blob-cache.js";
import { BLOB_MEMO } from "../oci/blob-memo.js";
import type { GzipProgram } from "../oci/program-gzip.js";

export interface OciServiceOptions {
  uidBase: number;
  /** Parent of the temp dirs (on the same filesystem as the layers, so unpacked layers move by rename). */
  tmpDir: string;
  /** Largest import archive accepted, unpacked. */
  maxImportBytes?: number;
  /** Where pulls and pushes may connect (default: public addresses only). */
  outbound?: OutboundPolicy;
  /** Layer blobs exports made, kept for the next export or push of the same layer. */
  blobCache?: BlobCache;
  /** The gzip program of layer exports (runtime/deflate-helper.ts); zlib in the daemon without one. */
  gzip?: GzipProgram;
}

export interface ImportOptions {
  name: string;
  tag?: string;
  replace?: boolean;
}

export class OciService {
  /** Layer keys an import is putting in place and has not registered yet: kept by garbage collection. */
  private readonly busy = new HeldKeys();

  constructor(
    private readonly images: ImageService,
    private readonly store: ImageStore,
    private readonly layers: LayerStore,
    inUse: LayersInUse,
    private readonly opts: OciServiceOptions,
  ) {
    inUse.add(() => this.busy.keys());
  }

  /**
   * Daemon start: the temp dirs and spool files of exports and imports a killed daemon left, and
   * the cluster content's temp dirs beside them (with the layer blobs they were writing); none is
   * in use yet. Then the blob cache's leftovers.
   */
  async sweep(): Promise<void> {
    for (const name of await readdir(this.opts.tmpDir).catch(() => [] as string[])) {
      if (/^(oci|content)-[0-9a-f]{12}$/.test(name))
        await rm(join(this.opts.tmpDir, name), { recursive: true, force: true });
    }
    // The blob cache's temp files and half-made entries, and entries of layers removed meanwhile.
    await this.opts.blobCache?.load();
    await this.opts.blobCache?.prune(BLOB_MEMO);
  }

  private async withTemp<T>(fn: (dir: string) => Promise<T>): Promise<T> {
    await mkdir(this.opts.tmpDir, { recursive: true, mode: 0o700 });
    const dir = tempName(this.opts.tmpDir);
    await mkdir(dir, { mode: 0o700 });
    try {
      return await fn(dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** A project image (or a base image) as layer dirs, base first, with the full config. */
  async source(project: string, ref: string): Promise<ExportSource> {
    const { name, tag } = parseImageRef(ref);
    const rec = await this.store.findImage(project, name, tag);
    const gzip = this.opts.gzip ? { gzip: this.opts.gzip } : {};
    if (rec) {
      const uidBase = rec.config.systemd ? 0 : this.opts.uidBase;
      return {
        name,
        tag,
        createdAt: rec.createdAt,
        config: rec.config,
        layers: [rec.baseDir, ...rec.layers.map((l) => l.dir)].map((dir) => ({ dir, uidBase, ...gzip })),
      };
    }
    const base = await this.images.resolveBase(ref, project);
    return {
      name: base.name,
      tag: "latest",
      createdAt: "",
      config: base.config,
      layers: [{ dir: base.dir, uidBase: base.config.systemd ? 0 : this.opts.uidBase, ...gzip }],
    };
  }

  /** The image as an OCI layout tar, streamed; its spool files go when the stream ends or is abandoned. */
  async exportStream(
    project: string,
    ref: string,
    signal?: AbortSignal,
    form: "tar" | "patched" = "tar",
  ): Promise<Readable> {
    const src = await this.source(project, ref);
    return exportArchive(src, {
      tmpDir: this.opts.tmpDir,
      signal,
      form,
      ...(this.opts.blobCache ? { cache: this.opts.blobCache } : {}),
    });
  }

  /** Imports an OCI layout tar or docker-archive tar from a stream. */
  /**
   * Cluster nodes (--registry): commits an import or pull the control plane placed here (`jobId`, its
   * id) before it is registered: pushed to the cluster registry, recorded in the control plane's store.
   */
  commit?: (img: ImageRecord, jobId: string) => Promise<void>;

  /** The commit of an import or pull the control plane placed here; none for the node's own. */
  private commitFor(placed?: { id: string }): ((img: ImageRecord) => Promise<void>) | undefined {
    if (!placed) return undefined;
    const commit = this.commit;
    if (!commit)
      throw new SbxError(
        "failed_precondition",
        "this node has no cluster registry (--registry): it cannot commit images",
      );
    return (img) => commit(img, placed.id);
  }

  async importArchive(
    project: string,
    body: Readable,
    o: ImportOptions,
    placed?: { id: string },
  ): Promise<ImageRecord> {
    const name = assertValidName("image", o.name);
    const tag = checkTag(o.tag ?? "latest");
    const commit = this.commitFor(placed);
    return this.withTemp(async (dir) => {
      await unpackPlain(body, dir, this.opts.maxImportBytes ?? 16 * 2 ** 30);
      const plan = await readLayout(dir);
      const img = await importImage(plan, this.deps(), {
        project,
        name,
        tag,
        replace: o.replace ?? false,
        source: plan.format,
        ...(commit ? { commit } : {}),
      });
      return img;
    });
  }

  async push(
    project: string,
    ref: string,
    target: string,
    auth: RegistryAuth,
    onProgress?: OnRegistryProgress,
  ): Promise<TransferStats & { reference: string }> {
    const client = new RegistryClient(parseRegistryRef(target), auth, this.opts.outbound);
    const src = await this.source(project, ref);
    return this.withTemp(async (dir) => {
      const { manifest } = await exportLayout(src, dir, this.opts.blobCache);
      return { reference: target, ...(await pushLayout(client, dir, manifest, onProgress)) };
    });
  }

  /** Pulls a registry image; registered under `name` (default: the repository's last part) unless `register` is false. */
  async pull(
    project: string,
    reference: string,
    o: Partial<ImportOptions> & { register?: boolean },
    auth: RegistryAuth,
    onProgress?: OnRegistryProgress,
    placed?: { id: string },
  ): Promise<{ image: ImageRecord; fetched: number; skipped: number }> {
    const ref = parseRegistryRef(reference);
    const client = new RegistryClient(ref, auth, this.opts.outbound);
    const name = assertValidName("image", o.name ?? ref.repository.split("/").at(-1)!);
    const tag = checkTag(o.tag ?? ref.tag ?? "latest");
    const commit = o.register === false ? undefined : this.commitFor(placed);
    return this.withTemp(async (dir) => {
      const pulled = await pullToLayout(client, dir, (diffId) => this.hasLayer(project, diffId), onProgress);
      const plan = await readLayout(dir);
      const image = await importImage(plan, this.deps(), {
        project,
        name,
        tag,
        replace: o.replace ?? false,
        source: reference,
        register: o.register ?? true,
        blobsMayBeMissing: true,
        ...(commit ? { commit } : {}),
      });
      return { image, fetched: pulled.fetched, skipped: pulled.skipped };
    });
  }

  /** For builds: a registry image as a base (layers above the first one, which is the base dir). */
  async pullBase(
    project: string,
    reference: string,
    auth: RegistryAuth = {},
  ): Promise<{
    name: string;
    id: string;
    dir: string;
    sizeBytes: number;
    config: ImageRecord["config"];
    layers: ImageLayerRef[];
    keys: string[];
  }> {
    const { image } = await this.pull(project, reference, { register: false }, auth);
    const keys = [image.baseId, ...image.layers.map((l) => l.key)];
    return {
      name: reference,
      id: image.id,
      dir: image.baseDir,
      sizeBytes: image.sizeBytes,
      config: image.config,
      layers: image.layers,
      keys,
    };
  }

  private async hasLayer(project: string, diffId: string): Promise<boolean> {
    const l = await this.store.getLayer(importedLayerKey(diffId, this.opts.uidBase, project));
    return !!l?.dir && existsSync(l.dir);
  }

  /** Marks keys busy until the returned function is called. */
  private hold(keys: string[]): () => void {
    this.busy.hold(keys);
    return () => this.busy.release(keys);
  }

  private deps() {
    return {
      layers: this.layers,
      store: this.store,
      uidBase: this.opts.uidBase,
      hold: (keys: string[]) => this.hold(keys),
    };
  }
}

function checkTag(tag: string): string {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(tag))
    throw new SbxError("invalid_name", `invalid tag ${JSON.stringify(tag)}: letters, digits, '_', '.', '-'`);
  return tag;
}
