// Ends every process of a running sandbox but its init (sbx-agent), and waits until they are gone:
// what a build does between two steps that share one build sandbox, so that no background process
// of a step lives on into the next one (as if each step had its own sandbox) and nothing writes to
// the writable layer while it is captured. The kill runs inside the sandbox's own pid namespace
// (kill(-1) spares only its init and the caller), never as a host kill of pids read from the host.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { SbxError } from "@sbx-sh/protocol";
import { HELPER_BUSYBOX } from "./types.js";

const CGROUP_ROOT = "/sys/fs/cgroup";

/** The file listing the sandbox's processes (v1: in its pids hierarchy, which every sandbox has). */
export function cgroupProcsFile(cgroupVersion: 1 | 2, id: string, parent = "sbx"): string {
  return cgroupVersion === 2
    ? join(CGROUP_ROOT, parent, id, "cgroup.procs")
    : join(CGROUP_ROOT, "pids", parent, id, "cgroup.procs");
}

export interface QuiesceDeps {
  /** Runs a command in the sandbox as its root and returns its exit code (through the agent). */
  run(argv: string[]): Promise<number>;
  cgroupVersion: 1 | 2;
  /** The sandboxes' cgroup parent (sbxd --cgroup-parent; default "sbx"). */
  cgroupParent?: string;
  /** How long the killed processes may take to exit (default 5 s). */
  timeoutMs?: number;
}

export async function quiesce(id: string, deps: QuiesceDeps): Promise<void> {
  // busybox kill exits 1 when there was nothing but init to signal: that is success here.
  await deps.run([HELPER_BUSYBOX, "kill", "-9", "-1"]);
  const file = cgroupProcsFile(deps.cgroupVersion, id, deps.cgroupParent);
  const until = Date.now() + (deps.timeoutMs ?? 5_000);
  for (;;) {
    const pids = (await readFile(file, "utf8")).split("\n").filter(Boolean);
    // Only init is left (exited processes leave the cgroup before they are reaped).
    if (pids.length <= 1) return;
    if (Date.now() > until)
      throw new SbxError("runtime_error", `sandbox ${id}: ${pids.length - 1} processes did not exit after SIGKILL`);
    await new Promise((r) => setTimeout(r, 1));
  }
}
