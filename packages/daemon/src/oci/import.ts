// OCI import: turns a checked ImportPlan into sbx layers (unpacked, verified, then moved into the
// layer store) and registers the image. Nothing is registered, and no layer is kept, unless every
// layer unpacked and matched its digests. Layers already present (same diff id) are reused.
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { SbxError, newId } from "@sbx-sh/protocol";
import type { LayerStore } from "../layers/layer-store.js";
import type { ImageStore } from "../store/store.js";
import type { ImageLayerRef, ImageRecord } from "../domain/records.js";
import { fileDigest, invalid, sha256, type ImageConfigJson, type ImportPlan } from "./layout.js";
import { unpackLayer } from "./unpack.js";

export interface ImportDeps {
  layers: LayerStore;
  store: Pick<ImageStore, "getLayer" | "putLayer" | "registerImage" | "findImage">;
  /** The sandboxes' uid base: imported files are shifted into it, as the base images are. */
  uidBase: number;
  /** Keeps layer keys from garbage collection until the returned function is called. */
  hold?: (keys: string[]) => () => void;
}

/** How long an unregistered import (a build's pulled base) stays protected: the build holds it by then. */
const UNREGISTERED_HOLD_MS = 120_000;

export interface ImportTarget {
  project: string;
  name: string;
  tag: string;
  replace: boolean;
  /** Where the image came from, shown as its base (`oci-archive`, `127.0.0.1:5000/x:1`). */
  source: string;
  /** A pull leaves out blobs of layers it already has; an archive must hold every blob. */
  blobsMayBeMissing?: boolean;
  /** false: unpack and return the record without registering it (a build's pulled base). */
  register?: boolean;
  /** Cluster nodes: commits the image (pushed, recorded by the control plane) before it is registered. */
  commit?: (img: ImageRecord) => Promise<void>;
}

const DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The cache key of an imported layer: its content (diff id) as unpacked for this uid base. */
export function importedLayerKey(diffId: string, uidBase: number, project?: string): string {
  // Per project: a layer is reused only from the project's own imports, never on the strength of
  // a diff_id another project's image names (knowing a digest must not be enough to get the bytes).
  return sha256(
    project === undefined ? `oci-layer\n${uidBase}\n${diffId}` : `oci-layer\n${uidBase}\n${project}\n${diffId}`,
  );
}

export function configFromOci(c: ImageConfigJson): ImageRecord["config"] {
  const cfg = c.config ?? {};
  const env = Array.isArray(cfg.Env) ? cfg.Env.filter((e) => typeof e === "string" && e.includes("=")) : [];
  return {
    env: env.some((e) => e.startsWith("PATH=")) ? env : [DEFAULT_PATH, ...env],
    workingDir: cfg.WorkingDir || "/",
    user: cfg.User || "root",
    entrypoint: Array.isArray(cfg.Entrypoint) ? cfg.Entrypoint : null,
    cmd: Array.isArray(cfg.Cmd) ? cfg.Cmd : null,
    systemd: false,
  };
}

/** Unpacks the plan's layers and registers the image (unless `register` is false); nothing is kept on failure. */
export async function importImage(plan: ImportPlan, deps: ImportDeps, target: ImportTarget): Promise<ImageRecord> {
  if (plan.layers.length === 0) throw invalid("the image has no layers");
  const current =
    (target.register ?? true) ? await deps.store.findImage(target.project, target.name, target.tag) : undefined;
  if (current && !target.replace && current.id !== plan.configDigest) {
    throw new SbxError(
      "already_exists",
      `image ${target.name}:${target.tag} already exists in project ${target.project}: pass --replace to point the name at the imported image`,
    );
  }
  await mkdir(deps.layers.root, { recursive: true, mode: 0o700 });
  const release =
    deps.hold?.(plan.layers.map((l) => importedLayerKey(l.diffId, deps.uidBase, target.project))) ?? (() => undefined);
  try {
    return await importLayers(plan, deps, target, current);
  } finally {
    if (target.register ?? true) release();
    else setTimeout(release, UNREGISTERED_HOLD_MS).unref();
  }
}

async function importLayers(
  plan: ImportPlan,
  deps: ImportDeps,
  target: ImportTarget,
  current: ImageRecord | undefined,
): Promise<ImageRecord> {
  const temps: Array<{ dir: string; key: string; index: number }> = [];
  const refs: ImageLayerRef[] = [];
  try {
    for (const [i, l] of plan.layers.entries()) {
      const key = importedLayerKey(l.diffId, deps.uidBase, target.project);
      const step = `oci layer ${l.diffId.slice(7, 19)}`;
      const have = await deps.store.getLayer(key);
      if (have?.dir && have.digest && existsSync(have.dir)) {
        // Still check the blob we were given: a corrupt archive is an error even when we need none of it.
        if (!existsSync(l.path) && !target.blobsMayBeMissing)
          throw invalid(`layer ${l.digest ?? l.path} is missing from the archive`, { blob: l.digest });
        if (l.digest && existsSync(l.path)) {
          const got = await fileDigest(l.path);
          if (got.digest !== l.digest)
            throw invalid(`layer ${l.digest} does not match its digest (got ${got.digest}): corrupt blob`, {
              blob: l.digest,
            });
        }
        refs.push({ key, digest: have.digest, dir: have.dir, sizeBytes: have.sizeBytes, step, cached: true });
        continue;
      }
      if (!existsSync(l.path))
        throw invalid(`layer ${l.digest ?? l.path} is missing from the archive`, { blob: l.digest });
      const dir = join(deps.layers.root, `.oci-${randomBytes(6).toString("hex")}`);
      temps.push({ dir, key, index: i });
      await unpackLayer(l, dir, deps.uidBase);
      refs.push({ key, digest: "", dir: "", sizeBytes: 0, step, cached: false });
    }
    for (const t of temps) {
      const made = await deps.layers.adopt(t.dir, t.key);
      const ref = refs[t.index]!;
      Object.assign(ref, { digest: made.digest, dir: made.dir, sizeBytes: made.sizeBytes });
      await deps.store.putLayer({
        key: t.key,
        digest: made.digest,
        dir: made.dir,
        sizeBytes: made.sizeBytes,
        step: ref.step,
        createdAt: new Date().toISOString(),
      });
    }
  } finally {
    for (const t of temps) await rm(t.dir, { recursive: true, force: true });
  }
  if (current && current.id === plan.configDigest) {
    // Already here under that name: committed all the same (the control plane may not have it yet).
    if (target.register ?? true) await target.commit?.(current);
    return current;
  }
  const [base, ...rest] = refs;
  const img: ImageRecord = {
    ref: newId("img"),
    id: plan.configDigest,
    project: target.project,
    name: target.name,
    tag: target.tag,
    baseImage: target.source,
    // The first layer's cache key: what keeps it (and so the base dir) alive while a build uses it.
    baseId: base!.key,
    baseDir: base!.dir,
    layers: rest,
    config: configFromOci(plan.config),
    sizeBytes: refs.reduce((a, r) => a + r.sizeBytes, 0),
    buildId: null,
    createdAt: new Date().toISOString(),
    deletedAt: null,
  };
  if (target.register ?? true) {
    await target.commit?.(img);
    await deps.store.registerImage(img, target.replace);
  }
  return img;
}
