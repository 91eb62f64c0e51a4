// What a path is in a stack of layers, read from the host without mounting it: the topmost layer
// that has the path decides, as overlayfs does (a whiteout hides everything below). Layers hold
// content that came out of sandboxes, so a path is only looked up in a layer where every parent
// is a real directory (lstat, never followed): a symlink anywhere is reported, not resolved, and
// the caller falls back to doing the work inside a sandbox. Opaque directories are not read
// (no xattr call in Node): an entry they hide may be reported as present, which only makes the
// caller copy a directory's attributes or fall back, never write through a link.
import { lstat } from "node:fs/promises";
import { join, posix } from "node:path";
import type { Stats } from "node:fs";

export type StackEntry =
  | { kind: "missing" }
  /** `layers`: indexes (top first) where the directory is a real directory, merged. */
  | { kind: "dir"; stat: Stats; layers: number[] }
  | { kind: "file"; stat: Stats }
  /** A symlink, device, socket, or a path under one: not handled on the host. */
  | { kind: "other" };

export class StackView {
  private readonly memo = new Map<string, Promise<StackEntry>>();

  /** `lowers`: layer directories, top first, the base's rootfs last. */
  constructor(private readonly lowers: string[]) {}

  /** An absolute, normalised path inside the image. */
  lookup(path: string): Promise<StackEntry> {
    const p = posix.resolve("/", path);
    let found = this.memo.get(p);
    if (!found) {
      found = this.resolve(p);
      this.memo.set(p, found);
    }
    return found;
  }

  private async resolve(p: string): Promise<StackEntry> {
    if (p === "/") {
      // A lower that is not a real directory on this host (a test's in-memory tree) cannot be read.
      const roots = await Promise.all(this.lowers.map((l) => lstat(l).catch(() => undefined)));
      if (!roots.every((st) => st?.isDirectory())) return { kind: "other" };
      return { kind: "dir", stat: roots.at(-1)!, layers: roots.map((_, i) => i) };
    }
    const parent = await this.lookup(posix.dirname(p));
    if (parent.kind === "missing") return parent;
    if (parent.kind !== "dir") return { kind: "other" };
    let dir: { stat: Stats; layers: number[] } | undefined;
    for (const i of parent.layers) {
      const st = await lstat(join(this.lowers[i]!, p)).catch(() => undefined);
      if (!st) continue;
      if (dir) {
        // Below a directory: only more directories merge into it; anything else is hidden.
        if (!st.isDirectory()) break;
        dir.layers.push(i);
        continue;
      }
      if (st.isCharacterDevice() && st.rdev === 0) return { kind: "missing" };
      if (st.isDirectory()) dir = { stat: st, layers: [i] };
      else if (st.isFile()) return { kind: "file", stat: st };
      else return { kind: "other" };
    }
    return dir ? { kind: "dir", ...dir } : { kind: "missing" };
  }
}
