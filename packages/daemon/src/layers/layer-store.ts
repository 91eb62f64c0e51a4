// Committed layers: immutable directories made from a sandbox's writable layer (the overlay
// upper dir, whiteouts and opaque-dir xattrs included), each with the sha256 of its tar form.
// Used read-only as overlay lower dirs by every sandbox and build that stacks on them. A committed
// dir is never replaced: images, snapshots and running sandboxes name it (and the store's layer
// table has one row, one dir, per key), so a commit whose key already has a dir either reuses it
// (an adopted layer: same key, same content by definition) or is committed under a key of its own.
import { createHash, randomBytes } from "node:crypto";
import { existsSync, renameSync } from "node:fs";
import { chmod, mkdir, readdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { mustRun, startCommand } from "../common/command.js";
import { SbxError } from "@sbx-sh/protocol";
import { HELPER_DIR, type LayerSource } from "../runtime/types.js";
import { KeyedLock } from "../common/keyed-lock.js";
import { feedTar } from "../common/tar-feed.js";
import { removeSnapshot } from "./overlay.js";
import { copyChanges, indexUpper, type UpperIndex } from "./upper-diff.js";

export interface CommittedLayer {
  /** The key it was committed under: the one asked for, or a fresh one when that one's dir was taken. */
  key: string;
  dir: string;
  digest: string;
  sizeBytes: number;
}

/** Paths under the root that the runtime itself creates (bind-mount targets), never image content. */
const RUNTIME_PATHS = [HELPER_DIR.slice(1)];

export class LayerStore {
  constructor(readonly root: string) {}

  /**
   * Per final dir: two commits of one key (and a GC claim) decide one after the other, each checking
   * and renaming in one go.
   */
  private readonly deciding = new KeyedLock();

  /** The directory of the layer with this cache key; short, because overlay options are limited to a page. */
  dirFor(key: string): string {
    return join(this.root, `l${key.replace(/^sha256:/, "").slice(0, 20)}`);
  }

  /** Commits a sandbox's writable layer as the runtime exported it (a directory, or a tar stream of one). */
  async commit(layer: LayerSource, key: string): Promise<CommittedLayer> {
    if (layer.kind === "directory")
      // cp -a as root keeps owners, modes, device nodes (whiteouts) and trusted.* xattrs (opaque dirs).
      // Nothing writes to the source meanwhile, so its tar form (less the runtime's paths, which the
      // copy loses below) is digested while it is copied, not read a second time from the copy.
      return this.make(
        key,
        (tmp) => mustRun("cp", ["-a", "--no-target-directory", layer.path, tmp], { timeoutMs: 30 * 60_000 }),
        "rekey",
        () => digestDir(layer.path, RUNTIME_PATHS),
      );
    return this.make(key, (tmp) => untar(layer.stream, tmp));
  }

  /**
   * Commits what changed in a live writable layer since `since` (the index an earlier commit of the
   * same upper dir returned; null: all of it), and returns the index to pass next time (null when
   * the layer grew too big to index: start a fresh sandbox then). Nothing may write to it meanwhile.
   */
  async commitChanges(
    layer: LayerSource,
    since: UpperIndex | null,
    key: string,
  ): Promise<{ layer: CommittedLayer; index: UpperIndex | null }> {
    if (layer.kind !== "directory") throw new SbxError("internal", "only a directory layer can be committed in steps");
    if (since === null) {
      const committed = await this.commit(layer, key);
      return { layer: committed, index: await indexUpper(layer.path) };
    }
    let index: UpperIndex | null = null;
    const committed = await this.make(key, async (tmp) => {
      await mkdir(tmp);
      index = await copyChanges(layer.path, since, tmp);
    });
    return { layer: committed, index };
  }

  /**
   * Moves a directory unpacked elsewhere on this filesystem (an imported layer) into place. Its key
   * names its content (a diff id), so a layer already there under that key is the same: kept as is.
   */
  async adopt(dir: string, key: string): Promise<CommittedLayer> {
    return this.make(key, (tmp) => rename(dir, tmp), "reuse");
  }

  /** A layer the daemon writes itself (a WORKDIR, a small COPY) into an empty directory. */
  async write(key: string, fill: (dir: string) => Promise<void>): Promise<CommittedLayer> {
    return this.make(key, async (tmp) => {
      await mkdir(tmp);
      await chmod(tmp, 0o755);
      await fill(tmp);
    });
  }

  /**
   * One layer holding the merged view of a whole stack (top first, base included): what a deep
   * chain of snapshots is squashed into, since overlayfs takes at most 500 lower dirs and its
   * mount options one page. Read through a read-only overlay, so whiteouts are already applied.
   */
  async flatten(lowers: string[], key: string): Promise<CommittedLayer> {
    return this.make(key, async (tmp) => {
      const view = `${tmp}.view`;
      await mkdir(view, { recursive: true });
      try {
        // Relative lower paths from the layers dir keep the option string short for deep stacks.
        const rel = lowers.map((l) => (l.startsWith(this.root + "/") ? l.slice(this.root.length + 1) : l));
        await mustRun("mount", ["-t", "overlay", "-o", `ro,lowerdir=${rel.join(":")}`, "sbx-flatten", view], {
          cwd: this.root,
        });
        try {
          await mustRun("cp", ["-a", "--no-target-directory", view, tmp], { timeoutMs: 30 * 60_000 });
        } finally {
          await mustRun("umount", [view]);
        }
      } finally {
        await rm(view, { recursive: true, force: true });
      }
    });
  }

  /**
   * Fills a temp dir, drops runtime paths from it (never from a live upper dir), digests it, renames
   * it into place. When the key's dir exists: "reuse" keeps it and drops the new copy; "rekey"
   * commits under a fresh key (a re-executed build step, whose output may differ).
   */
  private async make(
    key: string,
    fill: (tmp: string) => Promise<unknown>,
    taken: "reuse" | "rekey" = "rekey",
    /** The digest of what fill copies, taken from its source while it copies; default: of the filled dir. */
    digestBeside?: () => Promise<{ digest: string; sizeBytes: number }>,
  ): Promise<CommittedLayer> {
    await mkdir(this.root, { recursive: true, mode: 0o711 });
    const wanted = this.dirFor(key);
    const tmp = `${wanted}.tmp-${randomBytes(4).toString("hex")}`;
    const beside = digestBeside?.();
    // Awaited below; a failed fill must not leave it an unhandled rejection.
    beside?.catch(() => undefined);
    try {
      await fill(tmp);
      for (const p of RUNTIME_PATHS) await rm(join(tmp, p), { recursive: true, force: true });
      const { digest, sizeBytes } = await (beside ?? digestDir(tmp));
      return await this.deciding.run(wanted, async () => {
        if (!existsSync(wanted)) {
          await rename(tmp, wanted);
          return { key, dir: wanted, digest, sizeBytes };
        }
        if (taken === "reuse") {
          await rm(tmp, { recursive: true, force: true });
          return { key, dir: wanted, digest, sizeBytes };
        }
        const fresh = rekey(key);
        await rename(tmp, this.dirFor(fresh));
        return { key: fresh, dir: this.dirFor(fresh), digest, sizeBytes };
      });
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
  }

  /**
   * Daemon start: removes layer dirs that `listed` (the store's layer table) does not name. A daemon
   * killed mid-commit leaves a temp dir (maybe with a flatten view still mounted), and one killed
   * between the rename and the store write leaves a whole layer nothing will ever collect.
   */
  async sweep(listed: Set<string>): Promise<string[]> {
    const removed: string[] = [];
    for (const name of await readdir(this.root).catch(() => [] as string[])) {
      // Also the unpack dirs of an OCI import (.oci-<hex>) that never reached adopt().
      if (!/^(l[0-9a-f]{20}(\.tmp-[0-9a-f]{8}(\.view)?|\.gc-[0-9a-f]{8})?|\.oci-[0-9a-f]{12})$/.test(name)) continue;
      const dir = join(this.root, name);
      if (listed.has(dir)) continue;
      // A dir garbage collection moved aside (claim) whose row it never deleted: its layer is still named.
      const claimedFrom = /^(.*)\.gc-[0-9a-f]{8}$/.exec(dir)?.[1];
      if (claimedFrom && listed.has(claimedFrom) && !existsSync(claimedFrom)) {
        await rename(dir, claimedFrom);
        continue;
      }
      await removeSnapshot(dir);
      removed.push(name);
    }
    return removed;
  }

  /**
   * Garbage collection: moves a layer's dir out of its name, in the same turn per dir as commits
   * and adoptions decide in, unless `held()` says an import or build has taken its key up. The
   * check and the rename happen in one tick, so whoever found the dir in place held its key first,
   * and whoever looks after finds no dir and makes a fresh one. Answers where the dir went (for
   * remove or unclaim), null when there was none, or "held".
   */
  async claim(dir: string, held: () => boolean): Promise<string | null | "held"> {
    this.checkOwn(dir);
    return this.deciding.run(dir, () => {
      if (held()) return Promise.resolve("held" as const);
      if (!existsSync(dir)) return Promise.resolve(null);
      const trash = `${dir}.gc-${randomBytes(4).toString("hex")}`;
      renameSync(dir, trash);
      return Promise.resolve(trash);
    });
  }

  /** Puts a claimed dir back (its layer was taken up after all), unless a fresh one of its key took its place. */
  async unclaim(trash: string, dir: string): Promise<void> {
    this.checkOwn(trash);
    await this.deciding.run(dir, async () => {
      if (existsSync(dir)) await rm(trash, { recursive: true, force: true });
      else await rename(trash, dir);
    });
  }

  async remove(dir: string): Promise<void> {
    this.checkOwn(dir);
    await rm(dir, { recursive: true, force: true });
  }

  private checkOwn(dir: string): void {
    if (!dir.startsWith(this.root + "/"))
      throw new SbxError("internal", `refusing to remove ${dir}: not a layer of ${this.root}`);
  }
}

/** A key of its own for another commit of `key`: same form (so the sweep knows its dir), never reused. */
export function rekey(key: string): string {
  return (
    "sha256:" +
    createHash("sha256")
      .update(`${key}\nagain:${randomBytes(16).toString("hex")}`)
      .digest("hex")
  );
}

/** tar's arguments for a dir's tar form (what a layer's digest covers), less the top-level entries in `exclude`. */
export function tarFormArgs(dir: string, exclude: string[] = []): string[] {
  // Anchored: only the top-level entries named, never a nested path of the same name.
  const excludes = exclude.length > 0 ? ["--anchored", ...exclude.map((p) => `--exclude=./${p}`)] : [];
  return [
    "--sort=name",
    "--numeric-owner",
    "--xattrs",
    "--xattrs-include=trusted.*",
    ...excludes,
    "-C",
    dir,
    "-cf",
    "-",
    ".",
  ];
}

/** sha256 and size of the layer's canonical tar (sorted names, numeric owners, trusted.* xattrs). */
export async function digestDir(dir: string, exclude: string[] = []): Promise<{ digest: string; sizeBytes: number }> {
  const tar = startCommand("tar", tarFormArgs(dir, exclude), { stdout: true });
  tar.stdin.end();
  const hash = createHash("sha256");
  let size = 0;
  for await (const b of tar.stdout!) {
    hash.update(b as Buffer);
    size += (b as Buffer).length;
  }
  const { code, stderr } = await tar.done;
  if (code !== 0) throw new SbxError("runtime_error", `cannot digest layer ${dir}: ${stderr.trim()}`);
  return { digest: `sha256:${hash.digest("hex")}`, sizeBytes: size };
}

/** Unpacks a layer's tar form into `dir` as it was: numeric owners, modes, devices, trusted.* xattrs. */
async function untar(stream: Readable, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const tar = startCommand("tar", [
    "-x",
    "--numeric-owner",
    "--same-permissions",
    "--xattrs",
    "--xattrs-include=trusted.*",
    "-C",
    dir,
    "-f",
    "-",
  ]);
  try {
    // tar may close its stdin once it has read the end marker: then its exit, below, decides.
    await feedTar(stream, tar.stdin);
  } catch (err) {
    tar.kill();
    await tar.done.catch(() => undefined);
    throw err;
  }
  const { code, stderr } = await tar.done;
  if (code !== 0) throw new SbxError("runtime_error", `cannot unpack the layer: ${stderr.trim().split("\n").at(-1)}`);
}
