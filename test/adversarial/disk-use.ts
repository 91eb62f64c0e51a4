// How much of the host's disk a directory tree really holds: the bytes of its files, each inode
// counted once, without entering any mount point below it. `du -x` is not that: an idmapped or
// bind mount of the same filesystem (every sandbox's lower layers are idmapped mounts of the data
// dir's own layers) has the same device number, so du walks into it and counts the layer again,
// once per sandbox. A warm-pool blank started in the middle of a measurement then looks like
// ~130 MiB of "growth" that is not on the disk at all.
import { lstatSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** Mount points under `root` (not root itself), from this process's mount table. */
function mountPointsUnder(root: string): Set<string> {
  const points = new Set<string>();
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const field = line.split(" ")[4];
    if (!field) continue;
    // mountinfo escapes space, tab, newline and backslash as octal.
    const point = field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (point.startsWith(root + "/")) points.add(point);
  }
  return points;
}

/** Bytes allocated on disk to the files under `root`, mount points below it left out. */
export function diskUse(root: string): number {
  const mounts = mountPointsUnder(root);
  const dev = lstatSync(root).dev;
  const seen = new Set<number>();
  let bytes = 0;
  const walk = (path: string): void => {
    let st;
    try {
      st = lstatSync(path);
    } catch {
      return; // gone under us: a sandbox of an earlier test tearing down in the background
    }
    if (st.dev !== dev || seen.has(st.ino)) return;
    seen.add(st.ino);
    bytes += st.blocks * 512;
    if (!st.isDirectory()) return;
    let names: string[];
    try {
      names = readdirSync(path);
    } catch {
      return;
    }
    for (const name of names) {
      const child = join(path, name);
      if (!mounts.has(child)) walk(child);
    }
  };
  walk(root);
  return bytes;
}
