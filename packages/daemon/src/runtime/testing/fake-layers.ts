// The lower layers a FakeRuntime sandbox stands on, as one read-only tree. A lower is either a tree
// registered in memory (the fake base) or a real layer directory on this host, as a LayerStore
// commits them: snapshots restored, suspended sandboxes resumed and build steps stacked on their
// parents then see the files those layers hold, as they would under crun's overlayfs.
import { lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join, posix } from "node:path";
import type { FakeNode, FakeTree } from "./fake-fs.js";

/** A layer as overlayfs reads it: nodes, and whiteouts (0/0 char devices) that hide what is below. */
type LayerTree = Map<string, FakeNode | "whiteout">;

/**
 * The merged view of `lowers` (top first): a known tree, else the directory of that name on disk,
 * else nothing. Opaque directories of disk layers are not seen (their mark is a trusted.* xattr).
 */
export function stackLowers(lowers: string[], known: ReadonlyMap<string, FakeTree>): FakeTree {
  const out: FakeTree = new Map();
  for (const lower of [...lowers].reverse()) {
    const layer: LayerTree = known.get(lower) ?? readLayerDir(lower);
    for (const [path, node] of [...layer].sort(([a], [b]) => a.length - b.length)) {
      if (node === "whiteout") {
        for (const p of [...out.keys()]) if (p === path || p.startsWith(path + "/")) out.delete(p);
      } else out.set(path, node);
    }
  }
  return out;
}

/** A layer directory's entries by absolute path inside the sandbox; empty when there is no such dir. */
function readLayerDir(root: string): LayerTree {
  const out: LayerTree = new Map();
  const walk = (rel: string): void => {
    let names: string[];
    try {
      names = readdirSync(join(root, rel));
    } catch {
      return;
    }
    for (const name of names) {
      const path = posix.join("/", rel, name);
      const host = join(root, rel, name);
      const st = lstatSync(host);
      const meta = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000) };
      if (st.isDirectory()) {
        out.set(path, { ...meta, type: "directory" });
        walk(posix.join(rel, name));
      } else if (st.isFile()) out.set(path, { ...meta, type: "file", data: readFileSync(host) });
      else if (st.isSymbolicLink()) out.set(path, { ...meta, type: "symlink", target: readlinkSync(host) });
      else if (st.isCharacterDevice() && st.rdev === 0) out.set(path, "whiteout");
    }
  };
  walk("");
  return out;
}
