// Small file helpers for the daemon's state on disk: whether a path exists (any error counts as no),
// JSON read back leniently, and text written atomically through a temp file and a rename.
import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename, stat, writeFile } from "node:fs/promises";
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
