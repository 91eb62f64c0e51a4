// Daemon start: the sandbox records against what survived on the host. Running sandboxes whose
// container lives are kept; a suspend the old daemon died in is finished; a resume it died in is
// put back (suspended, on its snapshot); the rest are recorded as dead; then whatever is on the host that no live sandbox owns is removed. The lifecycle
// service does the writes (it alone changes a sandbox's status); this module decides.
import type { Logger } from "../common/log.js";
import type { SandboxRecord } from "../domain/records.js";
import type { SandboxRuntime } from "../runtime/runtime.js";
import type { Store } from "../store/store.js";

export interface ReconcileSteps {
  store: Store;
  runtime: SandboxRuntime;
  log: Logger;
  /** Releases what a suspended sandbox still holds on the host (its daemon died mid-suspend). */
  finishSuspend(s: SandboxRecord): Promise<void>;
  /** Re-arms a kept sandbox's timeout for the time it has left. */
  rearm(id: string, ms: number): void;
  /** Records a sandbox whose resume the old daemon died in as suspended again (nothing left on the host). */
  resumeDied(s: SandboxRecord): Promise<void>;
  /** Records a sandbox whose container is gone as terminated ("died"). */
  died(s: SandboxRecord): Promise<void>;
}

export async function reconcileSandboxes(
  steps: ReconcileSteps,
): Promise<{ kept: string[]; ended: string[]; leaks: string[] }> {
  const { store, runtime, log } = steps;
  const kept: string[] = [];
  const ended: string[] = [];
  for (const s of await store.listSandboxes({ includeTerminated: false })) {
    // Suspended sandboxes have nothing on the host; their snapshot is in the store. One whose
    // daemon died between recording the suspend and releasing it still has its container, network
    // slot and processes: the release is finished here.
    if (s.status === "suspended") {
      if (s.netSlot !== null || (await runtime.isRunning(s.id))) await steps.finishSuspend(s);
      continue;
    }
    // A resume the old daemon died in: the sandbox still names its suspend snapshot (a resume lets go
    // of it last). Its files are there, and "died" would delete them with the snapshot: whatever of
    // the restart got onto the host goes, and the sandbox is suspended again, to be resumed anew.
    if (s.suspendSnapshotId && (s.status === "pending" || s.status === "running")) {
      await runtime
        .destroy(s.id, s.netSlot)
        .catch((err: unknown) => log.warn({ sandbox: s.id, err }, "cleanup of an unfinished resume failed"));
      await steps.resumeDied(s);
      continue;
    }
    if (s.status === "running" && (await runtime.isRunning(s.id))) {
      // A daemon killed in the middle of a snapshot leaves the sandbox frozen.
      await runtime.thaw(s.id).catch((err: unknown) => log.warn({ sandbox: s.id, err }, "could not thaw"));
      kept.push(s.id);
      // Its timeout counts on from its start, not from this daemon's.
      const deadline = s.timeoutSecs > 0 ? Date.parse(s.startedAt ?? s.createdAt) + s.timeoutSecs * 1000 : 0;
      if (deadline) steps.rearm(s.id, Math.max(1, deadline - Date.now()));
      continue;
    }
    await runtime
      .destroy(s.id, s.netSlot)
      .catch((err: unknown) => log.warn({ sandbox: s.id, err }, "cleanup of a dead sandbox failed"));
    await steps.died(s);
    ended.push(s.id);
  }
  const leaks = await runtime.cleanupLeaks(new Set(kept), await store.usedNetSlots());
  return { kept, ended, leaks };
}
