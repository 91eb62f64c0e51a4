// A node's side of committing content in cluster mode: a snapshot's (or suspend's) stack is pushed
// to the cluster registry before the snapshot is reported completed (SnapshotService calls this
// between taking the layer and marking the record completed; a failure here fails the snapshot,
// nothing is reported committed, and the sandbox keeps running). Layers go as `sbx image push`
// writes them (oci/export.ts), through the same registry client, which skips blobs the registry
// has. A layer this node has already pushed is not tarred again while the registry still has it.
import { randomBytes } from "node:crypto";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { SnapshotRecord } from "../domain/records.js";
import type { Logger } from "../common/log.js";
import { writeLayerBlob } from "../oci/export.js";
import { MEDIA, ociArch, sha256, type Descriptor, type ImageConfigJson, type ManifestJson } from "../oci/layout.js";
import type { ImageService } from "../services/images.js";
import { CONTENT_ANNOTATION, notCommitted, type ContentMeta } from "./content-registry.js";
import type { ClusterRegistry } from "./registry-access.js";

export interface PublishDeps {
  registry: ClusterRegistry;
  images: Pick<ImageService, "resolvesToBase" | "resolveBase">;
  uidBase: number;
  tmpDir: string;
  log: Logger;
}

export class ContentPublisher {
  /** Layer key → what its pushed blob was, so a stack's lower layers are not tarred on every snapshot. */
  private readonly pushed = new Map<string, { desc: Descriptor; diffId: string }>();
  /** Snapshot id → manifest digest, for the answer to the control plane (x-sbx-content-manifest). */
  private readonly manifests = new Map<string, string>();

  constructor(private readonly d: PublishDeps) {}

  /** Asked once, for the snapshot's answer: then forgotten, so the map does not grow with every snapshot. */
  manifestOf(snapshotId: string): string | undefined {
    const m = this.manifests.get(snapshotId);
    this.manifests.delete(snapshotId);
    return m;
  }

  /** Pushes the snapshot's layers, config and manifest (tagged with its id); answers the manifest digest. */
  async publish(s: SnapshotRecord): Promise<string> {
    try {
      return await this.push(s);
    } catch (err) {
      throw notCommitted(`snapshot ${s.id}`, this.d.registry.address, err);
    }
  }

  private async push(s: SnapshotRecord): Promise<string> {
    const client = await this.d.registry.client(s.id);
    const uidBase = s.config.systemd ? 0 : this.d.uidBase;
    const recipe = await this.baseRecipe(s);
    const stack = [
      ...(recipe ? [] : [{ key: `base:${s.baseDir}`, dir: s.baseDir }]),
      ...s.layers.map((l) => ({ key: l.key, dir: l.dir })),
    ];
    await mkdir(this.d.tmpDir, { recursive: true, mode: 0o700 });
    const dir = join(this.d.tmpDir, `content-${randomBytes(6).toString("hex")}`);
    await mkdir(dir, { mode: 0o700 });
    try {
      const layers: Array<{ desc: Descriptor; diffId: string }> = [];
      let sent = 0;
      for (const l of stack) {
        const known = this.pushed.get(l.key);
        const there = known ? await client.hasBlob(known.desc.digest) : false;
        let blob = known;
        if (!blob || !there) {
          blob = await writeLayerBlob({ dir: l.dir, uidBase }, dir);
          // The registry was just asked about this digest (and has it not): not asked again.
          const has = known?.desc.digest === blob.desc.digest ? false : undefined;
          if (await client.putBlob(blob.desc.digest, join(dir, blob.desc.digest.slice(7)), undefined, has)) sent++;
          await rm(join(dir, blob.desc.digest.slice(7)), { force: true });
          this.pushed.set(l.key, blob);
        }
        layers.push(blob);
      }
      const config: ImageConfigJson = {
        created: s.createdAt,
        architecture: ociArch(),
        os: "linux",
        config: { Env: s.config.env, WorkingDir: s.config.workingDir, User: s.config.user },
        rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
      };
      const configData = Buffer.from(JSON.stringify(config));
      const configDigest = sha256(configData);
      await writeFile(join(dir, configDigest.slice(7)), configData);
      await client.putBlob(configDigest, join(dir, configDigest.slice(7)));
      const meta: ContentMeta = {
        kind: "snapshot",
        id: s.id,
        project: s.project,
        sourceSandboxId: s.sourceSandboxId,
        sourceImage: s.sourceImage,
        sourceImageId: s.sourceImageId,
        baseRecipe: recipe,
        baseImage: s.baseImage,
        config: {
          env: s.config.env,
          workingDir: s.config.workingDir,
          user: s.config.user,
          systemd: s.config.systemd ?? false,
        },
        steps: s.layers.map((l) => l.step),
      };
      const manifest: ManifestJson & { annotations: Record<string, string> } = {
        schemaVersion: 2,
        mediaType: MEDIA.manifest,
        config: { mediaType: MEDIA.config, digest: configDigest, size: configData.length },
        layers: layers.map((l) => l.desc),
        annotations: { [CONTENT_ANNOTATION]: JSON.stringify(meta) },
      };
      const digest = await client.putManifest(s.id, Buffer.from(JSON.stringify(manifest)), MEDIA.manifest);
      this.manifests.set(s.id, digest);
      this.d.log.info(
        { snapshot: s.id, manifest: digest, layers: layers.length, sent, registry: this.d.registry.address },
        "snapshot stored in the cluster registry",
      );
      return digest;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** The base recipe the stack stands on, when its base dir is that recipe's as this node built it. */
  private async baseRecipe(s: SnapshotRecord): Promise<{ name: string; id: string } | null> {
    if (!this.d.images.resolvesToBase(s.baseImage)) return null;
    const base = await this.d.images.resolveBase(s.baseImage, s.project);
    return base.dir === s.baseDir ? { name: base.name, id: base.id } : null;
  }
}
