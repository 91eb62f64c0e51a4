// Putting a finished file at a path that may hold an older one, without ext4's forced writeback.
// Renamed over an existing file, ext4 (auto_da_alloc, its default) allocates and starts writing out
// all of the new file's delayed blocks inside rename(2): 20-60 ms at the end of a 44 MB image export,
// where `tar | pigz > file` (truncate, then write) pays ~2 ms. Renamed to a free name it does not.
// So the old file is moved aside under a fixed name beside it (`.<name>.sbx-old`), the new one
// renamed into the freed path, and the old one removed. A process killed between the two renames
// leaves the old file under the aside name and the path free: the next export to that path (see
// recoverAside) puts it back before it starts, and removes an aside name a later rename made stale.
import { link, lstat, rename, rm, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/** Where replaceFile keeps `path`'s old file between its two renames. */
export function asidePath(path: string): string {
  return join(dirname(path), `.${basename(path)}.sbx-old`);
}

async function isRegularFile(path: string): Promise<boolean> {
  return (await lstat(path).catch(() => undefined))?.isFile() ?? false;
}

/**
 * Moves the new file `temp` to `path`. A regular file at `path` is moved aside first and removed
 * after; when the second rename fails, it is put back. Anything else at `path` (nothing, a link)
 * is replaced by one rename, as before.
 */
export async function replaceFile(temp: string, path: string): Promise<void> {
  const aside = asidePath(path);
  // Moved aside only when the aside name is free (a leftover there is recoverAside's to settle; a
  // folder by that name is not ours): failing that, one rename over it, slower but as safe.
  const moved =
    (await isRegularFile(path)) &&
    !(await lstat(aside).catch(() => undefined)) &&
    (await rename(path, aside).then(
      () => true,
      () => false,
    ));
  try {
    await rename(temp, path);
  } catch (err) {
    if (moved) await putBack(aside, path).catch(() => undefined);
    throw err;
  }
  if (moved) await rm(aside, { force: true });
}

/**
 * Settles what a replaceFile killed midway left: the old file under the aside name with `path`
 * free goes back to `path`; under the aside name while `path` exists, it is an older version (the
 * later rename happened) and is removed. Answers what it did, for a message.
 */
export async function recoverAside(path: string): Promise<"restored" | "removed" | undefined> {
  const aside = asidePath(path);
  if (!(await isRegularFile(aside))) return undefined;
  // Never in the way of the export itself: a leftover it cannot settle stays, named for what it is.
  return putBack(aside, path).catch(() => undefined);
}

/**
 * `aside` back to `path` when `path` is free, else removed. A hard link, not a rename: a file another
 * export put at `path` meanwhile is kept (link fails on an existing name; rename would replace it).
 * Where hard links are refused (vfat, some FUSE), a rename when `path` is free.
 */
async function putBack(aside: string, path: string): Promise<"restored" | "removed"> {
  const linked = await link(aside, path).then(
    () => true,
    async (err: NodeJS.ErrnoException) => {
      if (err.code === "EEXIST") return false;
      if (await lstat(path).catch(() => undefined)) return false;
      await rename(aside, path);
      return true;
    },
  );
  await unlink(aside).catch(() => undefined);
  return linked ? "restored" : "removed";
}
