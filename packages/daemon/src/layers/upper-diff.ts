// What changed in a writable layer (an overlay upper dir) since an earlier look at it, copied out
// as a layer of its own: how consecutive build steps that share one sandbox get one layer each
// without re-reading what did not change. An index keeps, per path, its inode and ctime (ns):
// any write, chmod, chown, xattr or rename changes ctime, a replacement changes the inode (the
// kernel hands a fine-grained ctime to any inode whose ctime was read since its last change, so
// a change right after the look is still seen). The new layer holds the changed entries with all
// their parent dirs (so their owners and modes are the real ones), a whiteout (char 0:0) for each
// path that is gone, and the overlay opaque mark on each dir that was replaced by a new one.
// A regular file's signature also holds a digest of its content: tmpfs (where build uppers live)
// updates neither ctime nor mtime for writes through a shared mmap, so a step that changed an
// earlier step's file that way (LMDB, some databases) would otherwise be left out of its layer.
import { createHash } from "node:crypto";
import { constants } from "node:fs";
import { lstat, open, readdir } from "node:fs/promises";
import { release } from "node:os";
import { join } from "node:path";
import type { Writable } from "node:stream";
import { SbxError } from "@sbx-sh/protocol";
import { startCommand } from "../common/command.js";

/** path (relative, no leading ./) → "<d|f><inode>:<ctime ns>", and ":<sha1>" for a regular file. */
export type UpperIndex = Map<string, string>;

/**
 * How long after an index was taken a change must come to be seen by its ctime. Kernels from 6.13
 * give tmpfs fine-grained ctimes once one was read (0); older ones stamp with the tick clock, so a
 * change in the same tick as the look could keep the old ctime: wait one tick (HZ is at least 100).
 */
export function ctimeSettleMs(kernel = release()): number {
  const [major = 0, minor = 0] = kernel.split(/[.-]/).map(Number);
  return major > 6 || (major === 6 && minor >= 13) ? 0 : 11;
}

/** Entries an index keeps at most; a bigger layer gives no index (the builder then starts a fresh sandbox). */
export const INDEX_LIMIT = 250_000;

/**
 * Tar flags that keep what a layer is made of, as the full copy (cp -a) of a first step does:
 * numeric owners, devices and every xattr (overlay's trusted.* marks, but also file capabilities
 * that a package's install set with setcap, and user.* ones). Quoted: they go into a shell script.
 */
const TAR_KEEP = ["--numeric-owner", "--xattrs", "'--xattrs-include=*'"];

interface Walk {
  prev: UpperIndex;
  next: UpperIndex | null;
  /** Each changed path, parents first, as tar reads its list. */
  emit(path: string): Promise<void>;
  replacedDirs: Set<string>;
}

function signature(dir: boolean, ino: bigint, ctimeNs: bigint, digest = ""): string {
  return `${dir ? "d" : "f"}${ino}:${ctimeNs}${digest}`;
}

/** sha1 of a regular file of the quiesced upper dir (never through a link: the content is the sandbox's). */
async function contentDigest(path: string): Promise<string> {
  const file = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const hash = createHash("sha1");
    for await (const chunk of file.createReadStream({ autoClose: false, highWaterMark: 1 << 20 }))
      hash.update(chunk as Buffer);
    return `:${hash.digest("hex")}`;
  } finally {
    await file.close();
  }
}

/** Walks `root` depth first; changed entries are emitted after every parent dir not emitted yet. */
async function walk(root: string, rel: string, chain: Array<{ path: string; emitted: boolean }>, w: Walk) {
  const names = await readdir(rel === "" ? root : join(root, rel));
  for (const name of names) {
    const path = rel === "" ? name : `${rel}/${name}`;
    const st = await lstat(join(root, path), { bigint: true });
    const dir = st.isDirectory();
    const sig = signature(dir, st.ino, st.ctimeNs, st.isFile() ? await contentDigest(join(root, path)) : "");
    const old = w.prev.get(path);
    w.prev.delete(path);
    if (old?.startsWith("d") && (!dir || old.slice(1, old.indexOf(":")) !== String(st.ino))) w.replacedDirs.add(path);
    if (w.next) {
      if (w.next.size < INDEX_LIMIT) w.next.set(path, sig);
      else w.next = null;
    }
    const changed = old !== sig;
    if (changed) {
      for (const c of chain)
        if (!c.emitted) {
          await w.emit(c.path);
          c.emitted = true;
        }
      await w.emit(path);
    }
    if (dir) {
      chain.push({ path, emitted: changed });
      await walk(root, path, chain, w);
      chain.pop();
    }
  }
}

/** The index of a whole writable layer (its first capture copies it all); null when over INDEX_LIMIT. */
export async function indexUpper(root: string): Promise<UpperIndex | null> {
  const w: Walk = { prev: new Map(), next: new Map(), emit: async () => undefined, replacedDirs: new Set() };
  await walk(root, "", [], w);
  return w.next;
}

/**
 * Copies into `dest` (an empty dir) what changed in `upper` since `prev` was taken, and returns the
 * new index (null when over INDEX_LIMIT). `prev` is consumed. Nothing may write to `upper` meanwhile.
 */
export async function copyChanges(upper: string, prev: UpperIndex, dest: string): Promise<UpperIndex | null> {
  // One tar reads the changed entries from its list as the walk finds them; another unpacks them.
  const copy = spawnShell(
    `tar -C "$1" --null --no-recursion ${TAR_KEEP.join(" ")} -T - -cf - | ` +
      `tar -C "$2" -x --same-permissions ${TAR_KEEP.join(" ")} -f -`,
    [upper, dest],
  );
  const w: Walk = {
    prev,
    next: new Map(),
    emit: (path) => write(copy.stdin, `./${path}\0`),
    replacedDirs: new Set(),
  };
  try {
    // The layer's root takes the upper dir's owner and mode, as a full copy would.
    await w.emit(".");
    await walk(upper, "", [], w);
    copy.stdin.end();
  } catch (err) {
    copy.stdin.destroy();
    await copy.done.catch(() => undefined);
    throw err;
  }
  await copy.done;
  // What is left of prev is gone now: a whiteout for the topmost of each gone subtree, unless a
  // replaced dir above it (marked opaque) hides it already.
  const gone = [...prev.keys()].filter((p) => {
    const parent = p.includes("/") ? p.slice(0, p.lastIndexOf("/")) : "";
    return parent === "" || (!prev.has(parent) && !w.replacedDirs.has(parent));
  });
  if (gone.length > 0 || w.replacedDirs.size > 0) await markRemovals(dest, gone, [...w.replacedDirs], upper);
  return w.next;
}

/** mknod c 0 0 for each gone path, trusted.overlay.opaque=y on each replaced dir that is still a dir. */
async function markRemovals(dest: string, gone: string[], replaced: string[], upper: string): Promise<void> {
  const dirs: string[] = [];
  for (const p of replaced) if ((await lstat(join(upper, p)).catch(() => undefined))?.isDirectory()) dirs.push(p);
  // NUL-separated paths that start with ./, so none reads as an option.
  const run = async (script: string, paths: string[]) => {
    if (paths.length === 0) return;
    const sh = spawnShell(`cd "$1" && ${script}`, [dest]);
    await write(sh.stdin, paths.map((p) => `./${p}\0`).join(""));
    sh.stdin.end();
    await sh.done;
  };
  await run("xargs -0 -r -I{} mknod {} c 0 0", gone);
  await run("xargs -0 -r setfattr -n trusted.overlay.opaque -v y", dirs);
}

function spawnShell(script: string, args: string[]): { stdin: Writable; done: Promise<void> } {
  const sh = startCommand("sh", ["-c", script, "sh", ...args]);
  const done = sh.done.then(({ code, stderr }) => {
    if (code !== 0)
      throw new SbxError("runtime_error", `cannot copy a build step's changes: ${stderr.trim().split("\n").at(-1)}`);
  });
  return { stdin: sh.stdin, done };
}

function write(stream: Writable, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (stream.write(text)) resolve();
    else {
      stream.once("drain", resolve);
      stream.once("error", reject);
    }
  });
}
