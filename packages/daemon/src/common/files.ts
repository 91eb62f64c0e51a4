// Small file helpers for the daemon's state on disk: whether a path exists (any error counts as no),
// JSON read back leniently, text written atomically through a temp file and a rename, and a file's
// or directory's contents made durable.
import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, rename, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";

export async function writeAtomic(path: string, text: string): Promise<void> {
  await mkdir(join(path, ".."), { recursive: true });
  const tmp = `${path}.${rand()}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, path);
}

export async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, "utf8")) as T;
  } catch {
    return undefined;
  }
}

export async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

export function rand(): string {
  return randomBytes(6).toString("hex");
}

/** fsync of a file or a directory (a directory: the names renamed into it). */
export async function syncPath(path: string): Promise<void> {
  const fh = await open(path, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
