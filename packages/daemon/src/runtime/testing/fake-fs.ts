// FakeRuntime's file system: a sandbox's root as overlayfs would show it, in memory. Read-only
// lower trees (top first) under a writable upper map that records what the sandbox changed, with
// whiteouts for deleted lower paths and opaque directories recreated over them, so exporting the
// upper map gives a layer in the same form the crun runtime's upper dir has.
import { posix } from "node:path";
import { fileErrors } from "../file-errors.js";
import { HELPER_DIR, type FileEntry } from "../types.js";
import type { TarEntry } from "./memory-tar.js";

interface Meta {
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
}
export type FakeNode =
  | (Meta & { type: "file"; data: Buffer })
  | (Meta & { type: "directory"; opaque?: boolean })
  | (Meta & { type: "symlink"; target: string });
/** Absolute, normalized paths ("/" itself excluded) to nodes. */
export type FakeTree = Map<string, FakeNode>;

const S_IFMT = { file: 0o100000, directory: 0o040000, symlink: 0o120000 } as const;
const now = (): number => Math.floor(Date.now() / 1000);

export function fileNode(data: Buffer | string, mode = 0o644): FakeNode {
  return { type: "file", data: Buffer.from(data), mode, uid: 0, gid: 0, mtime: now() };
}
export function dirNode(mode = 0o755): FakeNode {
  return { type: "directory", mode, uid: 0, gid: 0, mtime: now() };
}

const within = (path: string, dir: string): boolean => path === dir || path.startsWith(dir === "/" ? "/" : dir + "/");
const parents = (path: string): string[] => {
  const out: string[] = [];
  for (let p = posix.dirname(path); p !== "/"; p = posix.dirname(p)) out.unshift(p);
  return out;
};

export class FakeFs {
  private readonly upper = new Map<string, FakeNode | "whiteout">();

  constructor(private readonly lowers: FakeTree[]) {}

  /** The merged view: lowers bottom up, then the upper map's changes. */
  view(): FakeTree {
    const out: FakeTree = new Map();
    for (const tree of [...this.lowers].reverse()) for (const [p, n] of tree) out.set(p, n);
    for (const [p, n] of [...this.upper].sort(([a], [b]) => a.length - b.length)) {
      const hides = n === "whiteout" || n.type !== "directory" || n.opaque === true;
      if (hides) for (const q of [...out.keys()]) if (within(q, p) && q !== p) out.delete(q);
      if (n === "whiteout") out.delete(p);
      else out.set(p, n);
    }
    return out;
  }

  private lowerHas(path: string): boolean {
    return this.lowers.some((t) => t.has(path));
  }

  /** The node at `path`, following symlinks in its last component when `follow`. */
  stat(path: string, follow = true): FakeNode | undefined {
    const view = this.view();
    let p = posix.normalize(path);
    for (let hops = 0; hops < 16; hops++) {
      const n = p === "/" ? dirNode() : view.get(p);
      if (!n || n.type !== "symlink" || !follow) return n;
      p = posix.resolve(posix.dirname(p), n.target);
    }
    return undefined;
  }

  readFile(path: string): Buffer {
    const n = this.stat(path);
    if (!n) throw fileErrors.notFound(path);
    if (n.type === "directory") throw fileErrors.isADirectory(path);
    if (n.type !== "file") throw fileErrors.notRegular(path);
    return n.data;
  }

  /** Like `mkdir -p`: parents are created; a file in the way fails. */
  mkdirp(path: string): void {
    for (const p of [...parents(path), posix.normalize(path)]) {
      if (p === "/") continue;
      const n = this.stat(p);
      if (n?.type === "directory") continue;
      if (n) throw fileErrors.failed(path, `mkdir: ${p} exists and is not a directory`);
      // Recreated over a deleted lower directory: opaque, as overlayfs makes it.
      this.upper.set(p, { ...dirNode(), type: "directory", opaque: this.lowerHas(p) });
    }
  }

  put(path: string, node: FakeNode): void {
    const p = posix.normalize(path);
    this.mkdirp(posix.dirname(p));
    if (node.type === "directory" && this.stat(p, false)?.type === "directory") return;
    this.upper.set(p, node.type === "directory" ? { ...node, opaque: this.lowerHas(p) } : node);
  }

  writeFile(path: string, data: Buffer): void {
    const existing = this.stat(path);
    if (existing?.type === "directory") throw fileErrors.isADirectory(path);
    // Like `cat >file`: an existing file keeps its mode and owner.
    const base = existing?.type === "file" ? existing : fileNode("");
    this.put(path, { ...base, type: "file", data, mtime: now() });
  }

  list(path: string): FileEntry[] {
    const n = this.stat(path);
    if (!n) throw fileErrors.notFound(path);
    if (n.type !== "directory") throw fileErrors.notADirectory(path);
    const dir = posix.normalize(path);
    const out: FileEntry[] = [];
    for (const [p, c] of this.view()) {
      if (posix.dirname(p) !== dir || p === dir) continue;
      out.push({
        name: posix.basename(p),
        mode: S_IFMT[c.type] | c.mode,
        size: c.type === "file" ? c.data.length : c.type === "symlink" ? c.target.length : 4096,
        mtime: c.mtime,
      });
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  remove(path: string, recursive: boolean): void {
    const p = posix.normalize(path);
    if (p === "/") throw fileErrors.rootRefused();
    const n = this.stat(p, false);
    if (!n) throw fileErrors.notFound(path);
    if (n.type === "directory" && !recursive) throw fileErrors.isADirectory(path);
    for (const q of [...this.upper.keys()]) if (within(q, p)) this.upper.delete(q);
    if (this.stat(p, false)) this.upper.set(p, "whiteout");
  }

  /** `path` and everything under it, as [path relative to the parent of `path`, node]. */
  subtree(path: string): Array<[string, FakeNode]> {
    const p = posix.normalize(path);
    const base = posix.dirname(p);
    return [...this.view()]
      .filter(([q]) => within(q, p))
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([q, n]) => [posix.relative(base, q), n]);
  }

  /** The upper map in layer form (whiteouts as 0/0 char devices); never HELPER_DIR. */
  exportUpper(): TarEntry[] {
    const out: TarEntry[] = [];
    for (const [p, n] of [...this.upper].sort(([a], [b]) => a.localeCompare(b))) {
      if (within(p, HELPER_DIR)) continue;
      const name = p.slice(1);
      if (n === "whiteout") out.push({ name, type: "chardev", mode: 0 });
      else out.push(toTarEntry(name, n));
    }
    return out;
  }
}

export function toTarEntry(name: string, n: FakeNode): TarEntry {
  const meta = { name, mode: n.mode, uid: n.uid, gid: n.gid, mtime: n.mtime };
  if (n.type === "file") return { ...meta, type: "file", data: n.data };
  if (n.type === "symlink") return { ...meta, type: "symlink", linkname: n.target };
  return { ...meta, type: "directory", xattrs: n.opaque ? { "trusted.overlay.opaque": "y" } : undefined };
}
