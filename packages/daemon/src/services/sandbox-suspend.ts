// Suspend and resume of named sandboxes, a part of the sandbox lifecycle: a suspend snapshots the
// sandbox and lets its host resources go (record and snapshot stay); a resume restarts it from
// that snapshot with the same id and name. Status changes go through the lifecycle's one writer.
import { SbxError } from "@sbx-sh/protocol";
import type { KeyedLock } from "../common/keyed-lock.js";
import type { Logger } from "../common/log.js";
import type { SandboxRecord } from "../domain/records.js";
import { specFor } from "../domain/sandbox-spec.js";
import type { SandboxStatus } from "../domain/sandbox-state.js";
import type { SandboxRuntime } from "../runtime/runtime.js";
import type { MetaOps, Store } from "../store/store.js";
import type { ResolvedImage } from "./images.js";
import type { NetSlots } from "./net-slots.js";
import type { SnapshotService } from "./snapshot-service.js";
import type { StatusPatch } from "./sandbox-status.js";

/** What the lifecycle service shares with its parts. */
export interface LifecycleCore {
  store: Store;
  runtime: SandboxRuntime;
  snapshots: SnapshotService;
  slots: NetSlots;
  lock: KeyedLock;
  log: Logger;
  /** The one writer of `status`, checked against the sandbox state machine. */
  setStatus(s: SandboxRecord, to: SandboxStatus, patch: StatusPatch, tx?: MetaOps): Promise<void>;
  /** A suspended sandbox's timer, processes and host resources go ("suspended" is emitted). */
  release(s: SandboxRecord): Promise<void>;
  /** Arms the sandbox's timeout. */
  arm(id: string, ms: number): void;
}

export class SandboxSuspension {
  constructor(private readonly core: LifecycleCore) {}

  /** Snapshots a running sandbox, records it suspended, then lets its host resources go. */
  suspend(id: string, why: "requested" | "timeout"): Promise<SandboxRecord> {
    const { store, lock } = this.core;
    return lock.run(id, async () => {
      const sb = (await store.getSandbox(id))!;
      if (sb.status !== "running") return sb;
      const snap = await this.core.snapshots.capture(sb, true);
      // Recorded before the sandbox goes, so a daemon killed in between still knows where its files are.
      await this.core.setStatus(sb, "suspended", {
        suspendSnapshotId: snap.id,
        ipAddress: null,
        terminationReason: why === "timeout" ? "suspended at timeout" : null,
      });
      await this.core.release((await store.getSandbox(id))!);
      await store.updateSandbox(id, { netSlot: null });
      this.core.log.info({ sandbox: id, snapshot: snap.id, why }, "sandbox suspended");
      return (await store.getSandbox(id))!;
    });
  }

  /** Starts a suspended sandbox again from its suspend snapshot, with the same id and name. */
  async resume(project: string, sb: SandboxRecord): Promise<SandboxRecord> {
    if (sb.status === "running") return sb;
    if (sb.status !== "suspended" || !sb.suspendSnapshotId)
      throw new SbxError(
        "failed_precondition",
        `sandbox ${sb.id} is ${sb.status}: only suspended sandboxes can be resumed`,
      );
    const { store, snapshots } = this.core;
    return this.core.lock.run(sb.id, async () => {
      const current = (await store.getSandbox(sb.id))!;
      if (current.status !== "suspended") return current;
      const snapId = current.suspendSnapshotId!;
      const resumed = await this.restart(current, await snapshots.resolve(project, snapId));
      // From now on the sandbox stands on that snapshot's layers; the suspend snapshot it stood on
      // before is superseded (the new one's stack holds whatever of it is still needed).
      const superseded = await store.transaction(async (tx) => {
        await tx.updateSandbox(sb.id, { snapshotId: snapId, suspendSnapshotId: null, terminationReason: null });
        return snapshots.dropSuperseded(tx, sb.id, current.snapshotId);
      });
      if (superseded) await snapshots.collectAfterResume();
      this.core.log.info({ sandbox: sb.id, snapshot: snapId }, "sandbox resumed");
      return { ...resumed, snapshotId: snapId, suspendSnapshotId: null };
    });
  }

  /** Starts a suspended sandbox from `image` (its suspend snapshot) with a new network slot. */
  private async restart(s: SandboxRecord, image: ResolvedImage): Promise<SandboxRecord> {
    const { store, setStatus } = this.core;
    const netSlot = await store.transaction(async (tx) => {
      const slot = s.allowInternetAccess ? await this.core.slots.allocate(tx) : null;
      await setStatus(s, "pending", { netSlot: slot }, tx);
      return slot;
    });
    const pending: SandboxRecord = { ...s, status: "pending", netSlot };
    try {
      const { ipAddress } = await this.core.runtime.create(specFor({ kind: "sandbox", sandbox: pending, image }));
      await setStatus(pending, "running", {
        ipAddress,
        startedAt: new Date().toISOString(),
        lowers: image.lowers,
        source: { layers: image.layers, baseDir: image.baseDir, baseImage: image.baseImage },
      });
    } catch (err) {
      await setStatus(pending, "suspended", { netSlot: null });
      throw err;
    }
    this.core.arm(s.id, s.timeoutSecs * 1000);
    return (await store.getSandbox(s.id))!;
  }
}
