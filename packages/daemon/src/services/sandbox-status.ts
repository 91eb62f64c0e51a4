// The one writer of a sandbox's `status`: each move is checked against the sandbox state machine
// (domain/sandbox-state.ts), written (in the caller's transaction when it gives one), and published
// on the daemon's event stream, where pending is internal and running after a suspension is a resume.
import type { SandboxRecord } from "../domain/records.js";
import { assertTransition, type SandboxStatus } from "../domain/sandbox-state.js";
import type { MetaOps, Store } from "../store/store.js";
import type { EventBus } from "./event-bus.js";

export type StatusPatch = Partial<Omit<SandboxRecord, "id" | "project" | "status">>;

export class StatusWriter {
  /** Sandboxes on their way from suspended to running: their `running` is published as `resumed`. */
  private readonly resuming = new Set<string>();

  constructor(
    private readonly store: Store,
    private readonly bus: EventBus,
  ) {}

  /** Moves `s` to `to` with `patch`; `attributes` go on the event (e.g. how long a start took). */
  async set(
    s: SandboxRecord,
    to: SandboxStatus,
    patch: StatusPatch,
    tx: MetaOps = this.store,
    attributes: Record<string, number> = {},
  ): Promise<void> {
    assertTransition(s.id, s.status, to);
    await tx.updateSandbox(s.id, { ...patch, status: to });
    this.publish(s, to, patch, attributes);
  }

  private publish(s: SandboxRecord, to: SandboxStatus, patch: StatusPatch, extra: Record<string, number>): void {
    if (to === "pending" && s.status === "suspended") this.resuming.add(s.id);
    const type =
      to === "running"
        ? this.resuming.delete(s.id)
          ? ("sandbox.resumed" as const)
          : ("sandbox.running" as const)
        : to === "suspended"
          ? ("sandbox.suspended" as const)
          : to === "terminated"
            ? ("sandbox.terminated" as const)
            : undefined;
    if (to === "terminated" || to === "suspended") this.resuming.delete(s.id);
    if (!type) return;
    const attributes: Record<string, string | number | null> = { image: s.image, name: s.name, ...extra };
    if (to === "terminated" || to === "suspended") attributes.reason = patch.terminationReason ?? "requested";
    this.bus.publish({ type, project: s.project, subject: s.id, sandboxId: s.id, attributes });
  }
}
