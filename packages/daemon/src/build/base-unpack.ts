// A base image's rootfs tar (0-based ownership, in the content store) unpacked into
// <dataDir>/layers/<hex>/rootfs with its owners shifted to the sandboxes' uid range: the read-only
// lowest layer every sandbox of that image stands on. Atomic: a temp dir renamed into place.
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { SbxError } from "@sbx-sh/protocol";
import { runCommand } from "../common/command.js";
import { exists, rand, readJson, writeAtomic } from "../common/files.js";
import { type BlobStore, digestHex } from "../content/blob-store.js";
import type { BaseImageConfig, BaseRecipe } from "./base-recipes.js";
import { normalizeRootfs, shiftOwnership } from "./rootfs-tree.js";

/** What an unpacked base layer records beside its rootfs (meta.json). */
export interface LayerMeta {
  digest: string;
  sizeBytes: number;
  uidBase: number;
  name: string;
  recipeHash: string;
  config: BaseImageConfig;
  createdAt: string;
}

export interface UnpackDeps {
  blobs: BlobStore;
  dataDir: string;
  log: (line: string) => void;
}

export interface UnpackJob {
  recipe: BaseRecipe;
  /** The recipe's hash, recorded so a changed recipe is noticed. */
  hash: string;
  digest: string;
  uidBase: number;
}

/** Unpacks the tar blob into layers/<hex>/rootfs (via a temp dir and a rename) unless a matching one is there. */
export async function unpackBase(deps: UnpackDeps, job: UnpackJob): Promise<LayerMeta> {
  const { recipe, hash, digest, uidBase } = job;
  const dir = join(deps.dataDir, "layers", digestHex(digest));
  const existing = await readJson<LayerMeta>(join(dir, "meta.json"));
  if (existing && existing.uidBase === uidBase && existing.digest === digest && (await exists(join(dir, "rootfs")))) {
    const meta = { ...existing, name: recipe.name, recipeHash: hash, config: recipe.config };
    if (JSON.stringify(meta) !== JSON.stringify(existing))
      await writeAtomic(join(dir, "meta.json"), JSON.stringify(meta, null, 2));
    return meta;
  }
  const info = await deps.blobs.stat(digest);
  if (!info) throw new SbxError("internal", `blob ${digest} vanished while unpacking ${recipe.name}`);
  const tmp = join(deps.dataDir, "layers", `.tmp-${digestHex(digest).slice(0, 16)}-${rand()}`);
  const rootfs = join(tmp, "rootfs");
  await mkdir(rootfs, { recursive: true, mode: 0o755 });
  try {
    const started = Date.now();
    deps.log(`unpacking ${digest} with ownership shifted by ${uidBase}`);
    const t = await runCommand(
      "tar",
      ["--numeric-owner", "--xattrs", "--xattrs-include=*", "-xpf", deps.blobs.path(digest), "-C", rootfs],
      { timeoutMs: 600_000 },
    );
    if (t.code !== 0)
      throw new SbxError(
        "base_image_unavailable",
        `cannot unpack the ${recipe.name} rootfs: ${t.stderr.trim().split("\n").slice(-3).join(" | ")}`,
      );
    await normalizeRootfs(rootfs);
    const untarred = Date.now();
    const shifted = await shiftOwnership(rootfs, uidBase);
    deps.log(
      `unpacked in ${untarred - started} ms, shifted ${shifted.entries} entries by ${uidBase} in ${Date.now() - untarred} ms`,
    );
    const meta: LayerMeta = {
      digest,
      sizeBytes: info.size,
      uidBase,
      name: recipe.name,
      recipeHash: hash,
      config: recipe.config,
      createdAt: new Date().toISOString(),
    };
    await writeFile(join(tmp, "meta.json"), JSON.stringify(meta, null, 2));
    if (await exists(dir)) {
      // An incomplete or differently shifted copy: move it aside first so the rename below is atomic.
      const old = `${tmp}.old`;
      await rename(dir, old);
      await rm(old, { recursive: true, force: true });
    }
    try {
      await rename(tmp, dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // Another process finished the same unpack first; its copy is as good as ours.
      if (code !== "ENOTEMPTY" && code !== "EEXIST") throw err;
    }
    return meta;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
