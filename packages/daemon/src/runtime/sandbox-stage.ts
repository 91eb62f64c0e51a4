// Where the daemon puts the small files it binds into a sandbox (resolv.conf, CA bundles, the
// agent's socket dir): on the sandbox's own writable tmpfs (`rw`, beside the overlay's upper and
// work dirs), not on the data disk. A bind mount's entry in the sandbox's /proc/self/mountinfo shows
// its source's path inside its filesystem, so these show as /resolv.conf on sbx-rw rather than the
// host's data dir and the sandbox's id (F15), at no extra mount. The sandbox cannot reach `rw`
// itself (it sees only upper/ through its overlay), so what the daemon writes there stays its own.
import { existsSync } from "node:fs";
import { chmod } from "node:fs/promises";
import { join } from "node:path";

/** The staging dir of a sandbox whose layers are mounted (`<dir>/rw`), searchable by its mapped root. */
export async function stageDir(dir: string, hostIds: boolean): Promise<string> {
  const staged = join(dir, "rw");
  // The tmpfs root belongs to the layers' storage range (0700); crun resolves the bind sources as
  // the sandbox's root, which needs search (never read) here. The sandbox's own dir (0710) and the
  // data dir above it still keep everyone else out.
  if (!hostIds) await chmod(staged, 0o711);
  return staged;
}

/** The resolv.conf the sandbox has bound: staged, or in its dir when an older daemon made it. */
export function stagedResolvConf(dir: string): string {
  const staged = join(dir, "rw", "resolv.conf");
  return existsSync(staged) ? staged : join(dir, "resolv.conf");
}
