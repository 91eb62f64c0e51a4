// A node's side of committing content in cluster mode: a snapshot's (or suspend's) stack is pushed
// to the cluster registry before the snapshot is reported completed (SnapshotService calls this
// between taking the layer and marking the record completed; a failure here fails the snapshot,
// nothing is reported committed, and the sandbox keeps running). Layers go as `sbx image push`
// writes them (oci/export.ts), through the same registry client, which skips blobs the registry
// has. A layer this node has already pushed is not tarred again while the registry still has it.
import { randomBytes } from "node:crypto";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ImageRecord, SnapshotRecord } from "../domain/records.js";
import type { Logger } from "../common/log.js";
import { writeLayerBlob } from "../oci/export.js";
import { MEDIA, ociArch, sha256, type Descriptor, type ImageConfigJson, type ManifestJson } from "../oci/layout.js";
import type { ImageService } from "../services/images.js";
import type { ImageMeta } from "./content-image.js";
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
    const recipe = await this.baseRecipe(s);
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
    const digest = await this.pushContent({
      tag: s.id,
      uidBase: s.config.systemd ? 0 : this.d.uidBase,
      stack: [
        ...(recipe ? [] : [{ key: `base:${s.baseDir}`, dir: s.baseDir }]),
        ...s.layers.map((l) => ({ key: l.key, dir: l.dir })),
      ],
      createdAt: s.createdAt,
      config: { Env: s.config.env, WorkingDir: s.config.workingDir, User: s.config.user },
      annotation: JSON.stringify(meta),
    });
    this.manifests.set(s.id, digest);
    this.d.log.info(
      { snapshot: s.id, manifest: digest, registry: this.d.registry.address },
      "snapshot stored in the cluster registry",
    );
    return digest;
  }

  /** Pushes a built image's stack, config and manifest (tagged with its ref); answers the manifest digest. */
  async publishImage(img: ImageRecord): Promise<string> {
    try {
      const recipe = await this.baseRecipe(img);
      const meta: ImageMeta = {
        kind: "image",
        ref: img.ref,
        project: img.project,
        name: img.name,
        tag: img.tag,
        imageId: img.id,
        baseRecipe: recipe,
        baseImage: img.baseImage,
        baseId: img.baseId,
        config: img.config,
        steps: img.layers.map((l) => l.step),
        buildId: img.buildId,
      };
      const digest = await this.pushContent({
        tag: img.ref,
        uidBase: img.config.systemd ? 0 : this.d.uidBase,
        stack: [
          ...(recipe ? [] : [{ key: `base:${img.baseDir}`, dir: img.baseDir }]),
          ...img.layers.map((l) => ({ key: l.key, dir: l.dir })),
        ],
        createdAt: img.createdAt,
        config: {
          Env: img.config.env,
          WorkingDir: img.config.workingDir,
          User: img.config.user,
          ...(img.config.entrypoint ? { Entrypoint: img.config.entrypoint } : {}),
          ...(img.config.cmd ? { Cmd: img.config.cmd } : {}),
        },
        annotation: JSON.stringify(meta),
      });
      this.d.log.info(
        { image: `${img.name}:${img.tag}`, ref: img.ref, manifest: digest, registry: this.d.registry.address },
        "image stored in the cluster registry",
      );
      return digest;
    } catch (err) {
      throw notCommitted(`image ${img.name}:${img.tag}`, this.d.registry.address, err, "nothing was registered");
    }
  }

  /** Pushes the stack's layers (skipping what the registry has), a config and a manifest tagged `tag`. */
  private async pushContent(c: {
    tag: string;
    uidBase: number;
    stack: Array<{ key: string; dir: string }>;
    createdAt: string;
    config: ImageConfigJson["config"];
    annotation: string;
  }): Promise<string> {
    const client = await this.d.registry.client(c.tag);
    await mkdir(this.d.tmpDir, { recursive: true, mode: 0o700 });
    const dir = join(this.d.tmpDir, `content-${randomBytes(6).toString("hex")}`);
    await mkdir(dir, { mode: 0o700 });
    try {
      const layers: Array<{ desc: Descriptor; diffId: string }> = [];
      for (const l of c.stack) {
        const known = this.pushed.get(l.key);
        const there = known ? await client.hasBlob(known.desc.digest) : false;
        let blob = known;
        if (!blob || !there) {
          blob = await writeLayerBlob({ dir: l.dir, uidBase: c.uidBase }, dir);
          // The registry was just asked about this digest (and has it not): not asked again.
          const has = known?.desc.digest === blob.desc.digest ? false : undefined;
          await client.putBlob(blob.desc.digest, join(dir, blob.desc.digest.slice(7)), undefined, has);
          await rm(join(dir, blob.desc.digest.slice(7)), { force: true });
          this.pushed.set(l.key, blob);
        }
        layers.push(blob);
      }
      const config: ImageConfigJson = {
        created: c.createdAt,
        architecture: ociArch(),
        os: "linux",
        config: c.config,
        rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
      };
      const configData = Buffer.from(JSON.stringify(config));
      const configDigest = sha256(configData);
      await writeFile(join(dir, configDigest.slice(7)), configData);
      await client.putBlob(configDigest, join(dir, configDigest.slice(7)));
      const manifest: ManifestJson & { annotations: Record<string, string> } = {
        schemaVersion: 2,
        mediaType: MEDIA.manifest,
        config: { mediaType: MEDIA.config, digest: configDigest, size: configData.length },
        layers: layers.map((l) => l.desc),
        annotations: { [CONTENT_ANNOTATION]: c.annotation },
      };
      return await client.putManifest(c.tag, Buffer.from(JSON.stringify(manifest)), MEDIA.manifest);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** The base recipe the stack stands on, when its base dir is that recipe's as this node built it. */
  private async baseRecipe(s: {
    baseImage: string;
    baseDir: string;
    project: string;
  }): Promise<{ name: string; id: string } | null> {
    if (!this.d.images.resolvesToBase(s.baseImage)) return null;
    const base = await this.d.images.resolveBase(s.baseImage, s.project);
    return base.dir === s.baseDir ? { name: base.name, id: base.id } : null;
  }
}
