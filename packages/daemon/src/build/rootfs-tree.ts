// Operations on an unpacked rootfs tree: shifting owners by a fixed offset (0-based ids ⇄ a user
// namespace's host range; hardlinks once, setuid/setgid kept) and the invariants every base rootfs
// must meet whatever built it.
import { chmod, lchown, lstat, mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { SbxError } from "@sbx-sh/protocol";

export interface ShiftOptions {
  /** Ids must land in [base, base + range) after the shift (the userns mapping); default 65536 above 0. */
  range?: number;
  /** Parallel filesystem calls in flight; the libuv pool does the work, so a few dozen is plenty. */
  concurrency?: number;
}

export interface ShiftResult {
  entries: number;
  hardlinksSkipped: number;
}

/**
 * Adds `delta` to the uid and gid of `root` and everything under it, without following symlinks.
 * A negative delta un-shifts. Throws invalid_archive if an id would leave the target range, before
 * touching that entry (entries already visited stay shifted: callers work on a private copy).
 */
export async function shiftOwnership(root: string, delta: number, opts: ShiftOptions = {}): Promise<ShiftResult> {
  if (!Number.isInteger(delta)) throw new SbxError("internal", `uid shift must be an integer, got ${delta}`);
  const range = opts.range ?? 65536;
  const lo = delta >= 0 ? delta : 0;
  const hi = lo + range;
  const seen = new Set<string>();
  const result: ShiftResult = { entries: 0, hardlinksSkipped: 0 };
  const queue: string[] = [root];
  let active = 0;
  let failed: unknown;

  const visit = async (path: string): Promise<void> => {
    const st = await lstat(path, { bigint: true });
    const isDir = st.isDirectory();
    if (!isDir && st.nlink > 1n) {
      // Claimed synchronously before any await, so parallel visits of two names of one inode cannot both shift it.
      const key = `${st.dev}:${st.ino}`;
      if (seen.has(key)) {
        result.hardlinksSkipped++;
        return;
      }
      seen.add(key);
    }
    const uid = Number(st.uid) + delta;
    const gid = Number(st.gid) + delta;
    if (uid < lo || uid >= hi || gid < lo || gid >= hi) {
      throw new SbxError(
        "invalid_archive",
        `cannot shift ${path} (${st.uid}:${st.gid}) by ${delta}: ids must stay within ${lo}..${hi - 1}`,
      );
    }
    await lchown(path, uid, gid);
    const mode = Number(st.mode) & 0o7777;
    if (!st.isSymbolicLink() && (mode & 0o7000) !== 0) await chmod(path, mode);
    result.entries++;
    if (isDir) for (const name of await readdir(path)) queue.push(join(path, name));
  };

  const limit = opts.concurrency ?? 32;
  await new Promise<void>((resolve, reject) => {
    const pump = (): void => {
      if (failed !== undefined) {
        if (active === 0) reject(failed);
        return;
      }
      while (active < limit && queue.length > 0) {
        const next = queue.pop() as string;
        active++;
        visit(next).then(
          () => {
            active--;
            pump();
          },
          (err: unknown) => {
            active--;
            failed ??= err;
            pump();
          },
        );
      }
      if (active === 0 && queue.length === 0) resolve();
    };
    pump();
  });
  return result;
}

/**
 * What every base rootfs must look like whatever built it: no apt indexes or caches (tens of MiB
 * that `apt-get update` recreates), and /etc/resolv.conf a regular empty file for the runtime to
 * bind-mount over (a symlink there would point the bind mount somewhere else).
 */
export async function normalizeRootfs(rootfs: string): Promise<void> {
  const lists = join(rootfs, "var/lib/apt/lists");
  if ((await lstat(lists).catch(() => undefined))?.isDirectory()) {
    for (const n of await readdir(lists)) await rm(join(lists, n), { recursive: true, force: true });
  }
  const cache = join(rootfs, "var/cache/apt");
  if ((await lstat(cache).catch(() => undefined))?.isDirectory()) {
    for (const n of await readdir(cache)) if (n.endsWith(".bin")) await rm(join(cache, n), { force: true });
  }
  const etc = join(rootfs, "etc");
  const etcSt = await lstat(etc).catch(() => undefined);
  if (etcSt && !etcSt.isDirectory())
    throw new SbxError("invalid_archive", "the rootfs has no /etc directory (is /etc a symlink?)");
  if (!etcSt) await mkdir(etc, { mode: 0o755 });
  const resolv = join(etc, "resolv.conf");
  const st = await lstat(resolv).catch(() => undefined);
  if (!st || !st.isFile() || st.size > 0) {
    await rm(resolv, { recursive: true, force: true });
    await writeFile(resolv, "", { mode: 0o644 });
  }
}
