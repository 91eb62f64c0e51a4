// The sandbox lifecycle as a state machine: its statuses and the transitions between them, in one
// place. Only the sandbox lifecycle service writes `status`, and every write goes through
// assertTransition, so a status cannot change in a way this table does not allow.
//
//   pending ──▶ running ──▶ suspended ──▶ pending (resume restarts it)
//      │           │            │
//      └───────────┴────────────┴──▶ terminated (final)
//
// pending → suspended is a resume whose restart failed: the sandbox is kept as it was.
import { SbxError } from "@sbx-sh/protocol";

export type SandboxStatus = "pending" | "running" | "suspended" | "terminated";

const TRANSITIONS: Record<SandboxStatus, readonly SandboxStatus[]> = {
  pending: ["running", "suspended", "terminated"],
  running: ["suspended", "terminated"],
  suspended: ["pending", "terminated"],
  terminated: [],
};

export function canTransition(from: SandboxStatus, to: SandboxStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/** Throws `internal` for a transition the lifecycle does not have: a bug, never a user's mistake. */
export function assertTransition(id: string, from: SandboxStatus, to: SandboxStatus): void {
  if (!canTransition(from, to))
    throw new SbxError("internal", `sandbox ${id} cannot go from ${from} to ${to}`, { from, to });
}

/** Terminated is final: the record stays for listing, nothing runs or is held on the host. */
export function isFinal(status: SandboxStatus): boolean {
  return status === "terminated";
}
