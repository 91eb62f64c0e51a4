// Daemon start: whatever of sandboxes is on the host that the metadata does not know as live
// (containers, sandbox dirs and their mounts, cgroups, veths) is removed, so a daemon killed at
// any point leaves nothing behind for long.
import { readdir, rmdir } from "node:fs/promises";
import { join } from "node:path";
import { mountsUnder, removeSnapshot } from "../layers/overlay.js";
import type { Crun } from "./crun.js";
import type { NetworkManager } from "./network.js";

export interface LeakScope {
  sandboxesDir: string;
  network: NetworkManager;
  cgroupVersion: 1 | 2;
  /** The sandboxes' cgroup parent (default "sbx"). */
  cgroupParent?: string;
}

export async function cleanupLeaks(
  crun: Crun,
  o: LeakScope,
  liveIds: Set<string>,
  liveSlots: Set<number>,
): Promise<string[]> {
  const removed: string[] = [];
  for (const id of await crun.list()) {
    if (!liveIds.has(id)) {
      await crun.delete(id);
      removed.push(`container ${id}`);
    }
  }
  const dirs = await readdir(o.sandboxesDir).catch(() => [] as string[]);
  for (const id of dirs) {
    if (liveIds.has(id)) continue;
    const dir = join(o.sandboxesDir, id);
    const mounts = await mountsUnder(dir);
    await removeSnapshot(dir);
    removed.push(`sandbox dir ${id}${mounts.length ? ` (${mounts.length} mounts)` : ""}`);
  }
  removed.push(...(await removeStaleCgroups(o.cgroupVersion, o.cgroupParent ?? "sbx", liveIds)));
  const veths = await o.network.cleanupLeaks(liveSlots);
  if (veths > 0) removed.push(`${veths} network interfaces`);
  return removed;
}

/**
 * Empty sandbox cgroups whose container is gone. rmdir only succeeds on a cgroup without
 * processes, so a live sandbox of another daemon sharing the parent is never touched.
 */
async function removeStaleCgroups(cgroupVersion: 1 | 2, parent: string, liveIds: Set<string>): Promise<string[]> {
  const parents =
    cgroupVersion === 2
      ? [`/sys/fs/cgroup/${parent}`]
      : (await readdir("/sys/fs/cgroup").catch(() => [] as string[])).map((c) => `/sys/fs/cgroup/${c}/${parent}`);
  const removed = new Set<string>();
  for (const parent of parents) {
    for (const id of await readdir(parent).catch(() => [] as string[])) {
      if (liveIds.has(id) || !/^(sb|bld)-/.test(id)) continue;
      if (
        await rmdir(join(parent, id)).then(
          () => true,
          () => false,
        )
      )
        removed.add(id);
    }
  }
  return [...removed].map((id) => `cgroup ${id}`);
}
