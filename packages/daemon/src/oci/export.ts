// OCI export: an image's layer dirs (base rootfs first) as gzip tar blobs with OCI whiteouts and
// container ids, plus config, manifest, index.json and oci-layout, written into a directory.
// GNU tar walks each layer (sorted, hard links detected, xattrs read); we rewrite its entries.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { Transform, type Readable } from "node:stream";
import { SbxError } from "@sbx-sh/protocol";
import type { ImageRecord } from "../domain/records.js";
import { MEDIA, ociArch, type Descriptor, type ImageConfigJson, type ManifestJson } from "./layout.js";
import { encodeHeader, padding, readTar, TAR_END } from "./tar.js";
import { overlayToOci } from "./whiteouts.js";
import { ParallelGzip } from "./parallel-gzip.js";

export interface ExportLayer {
  dir: string;
  /** The offset the layer's owners are shifted by (0 for host-id images). */
  uidBase: number;
}

export interface ExportSource {
  name: string;
  tag: string;
  createdAt: string;
  layers: ExportLayer[];
  config: ImageRecord["config"];
}

/** Streams one layer dir as an OCI tar (uncompressed), rewriting GNU tar's entries. */
async function* layerTar(dir: string, uidBase: number, onStderr: (s: string) => void): AsyncGenerator<Buffer> {
  const child = spawn(
    "tar",
    [
      "--sort=name",
      "--numeric-owner",
      "--xattrs",
      "--xattrs-include=trusted.overlay.opaque",
      "--xattrs-include=security.capability",
      "--xattrs-include=user.*",
      "-C",
      dir,
      "-cf",
      "-",
      ".",
    ],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  child.stderr.on("data", (b: Buffer) => onStderr(b.toString()));
  const exited = new Promise<number>((resolve) => {
    child.on("error", () => resolve(127));
    child.on("close", (c) => resolve(c ?? 1));
  });
  let ok = false;
  try {
    for await (const e of readTar(child.stdout)) {
      for (const h of overlayToOci(e.header, uidBase)) {
        yield encodeHeader(h);
        if (h.type === "file" && h.size > 0) {
          for await (const c of e.body()) yield c;
          yield padding(h.size);
        }
      }
    }
    yield TAR_END;
    // tar pads its output after the end marker; reading it all lets tar exit cleanly.
    for await (const _ of child.stdout) void _;
    ok = true;
  } finally {
    if (!ok) child.stdout.destroy();
  }
  if ((await exited) !== 0) throw new SbxError("runtime_error", `cannot read layer ${dir}`);
}

class Hasher extends Transform {
  readonly hash = createHash("sha256");
  size = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    this.push(chunk);
    cb();
  }
}

/** Writes one layer as blobs/sha256/<digest>; returns its descriptor and diff id. */
export async function writeLayerBlob(
  layer: ExportLayer,
  blobsDir: string,
): Promise<{ desc: Descriptor; diffId: string }> {
  const tmp = join(blobsDir, `.tmp-${process.pid}-${Math.random().toString(16).slice(2)}`);
  let stderr = "";
  const diff = new Hasher();
  const gz = new Hasher();
  try {
    await pipeline(
      layerTar(layer.dir, layer.uidBase, (s) => (stderr += s)),
      diff,
      // Level 1: about twice as fast as the default for ~10% larger blobs (measured on debian-minimal);
      // in blocks on several cores (pigz's way), so one big layer is not held to one core.
      new ParallelGzip({ level: 1 }),
      gz,
      createWriteStream(tmp),
    );
  } catch (err) {
    await rm(tmp, { force: true });
    if (err instanceof SbxError && stderr)
      throw new SbxError(err.code, `${err.message}: ${stderr.trim()}`, undefined, { cause: err });
    throw err;
  }
  const digest = `sha256:${gz.hash.digest("hex")}`;
  await rename(tmp, join(blobsDir, digest.slice(7)));
  return { desc: { mediaType: MEDIA.layerGzip, digest, size: gz.size }, diffId: `sha256:${diff.hash.digest("hex")}` };
}

async function writeJsonBlob(blobsDir: string, value: unknown, mediaType: string): Promise<Descriptor> {
  const data = Buffer.from(JSON.stringify(value));
  const digest = `sha256:${createHash("sha256").update(data).digest("hex")}`;
  await writeFile(join(blobsDir, digest.slice(7)), data);
  return { mediaType, digest, size: data.length };
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

/** Writes a complete OCI image layout into `out` (created if missing); returns the manifest descriptor. */
export async function exportLayout(
  src: ExportSource,
  out: string,
): Promise<{ manifest: Descriptor; layers: Descriptor[]; config: Descriptor }> {
  if (src.layers.length === 0) throw new SbxError("invalid_argument", `image ${src.name} has no layers to export`);
  const blobs = join(out, "blobs", "sha256");
  await mkdir(blobs, { recursive: true });
  // Compression is the bottleneck (zlib runs in the thread pool): two layers at a time use two cores.
  const made = new Array<{ desc: Descriptor; diffId: string }>(src.layers.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < src.layers.length) {
      const i = next++;
      made[i] = await writeLayerBlob(src.layers[i]!, blobs);
    }
  };
  await Promise.all([worker(), worker()]);
  const layers = made.map((m) => m.desc);
  const diffIds = made.map((m) => m.diffId);
  const config = await writeJsonBlob(blobs, ociConfig(src, diffIds), MEDIA.config);
  const manifestJson: ManifestJson = { schemaVersion: 2, mediaType: MEDIA.manifest, config, layers };
  const manifest = await writeJsonBlob(blobs, manifestJson, MEDIA.manifest);
  const index = {
    schemaVersion: 2,
    mediaType: MEDIA.index,
    manifests: [{ ...manifest, annotations: { "org.opencontainers.image.ref.name": src.tag } }],
  };
  await writeFile(join(out, "index.json"), JSON.stringify(index));
  await writeFile(join(out, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  return { manifest, layers, config };
}

/**
 * A layout dir written by exportLayout() as one tar stream (deterministic: sorted, owners 0). The
 * dir is removed when the stream ends or is abandoned.
 */
export function layoutTarStream(dir: string): Readable {
  const child = spawn(
    "tar",
    [
      "--sort=name",
      "--owner=0",
      "--group=0",
      "--numeric-owner",
      "-C",
      dir,
      "-cf",
      "-",
      "oci-layout",
      "index.json",
      "blobs",
    ],
    { stdio: ["ignore", "pipe", "ignore"] },
  );
  child.on("close", () => void rm(dir, { recursive: true, force: true }));
  child.stdout.on("close", () => {
    if (child.exitCode === null) child.kill();
  });
  return child.stdout;
}
