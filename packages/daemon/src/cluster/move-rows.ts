// The rows of the control plane's sandbox_moves table (cluster migration 7; sandbox-moves.ts says
// what a row means in each state): their shape in PostgreSQL and as the rest of the cluster code
// knows them. Apart so the record's operations and the placement transactions share one mapping.
import type { MovedSnapshot, MoveSpec } from "./move-spec.js";

export type MoveState = "suspending" | "suspended" | "moving" | "placed";

export interface MoveRow {
  sandboxId: string;
  project: string;
  name: string;
  from: string;
  to: string | null;
  state: MoveState;
  why: string;
  spec: MoveSpec | null;
  snapshot: MovedSnapshot | null;
}

export interface NodePlacement {
  sandboxId: string;
  project: string;
  name: string | null;
}

/** A sandbox_moves row as PostgreSQL gives it. */
export interface MoveTableRow {
  sandbox_id: string;
  project: string;
  name: string;
  from_node: string;
  to_node: string | null;
  state: MoveState;
  why: string;
  spec: MoveSpec | null;
  snapshot_id: string | null;
  manifest: string | null;
}

/** The row as the rest of the cluster code knows it. */
export const toMoveRow = (r: MoveTableRow): MoveRow => ({
  sandboxId: r.sandbox_id,
  project: r.project,
  name: r.name,
  from: r.from_node,
  to: r.to_node,
  state: r.state,
  why: r.why,
  spec: r.spec,
  snapshot: r.snapshot_id && r.manifest ? { id: r.snapshot_id, manifest: r.manifest } : null,
});

/** The columns MoveTableRow holds, in a SELECT list. */
export const MOVE_COLUMNS = "sandbox_id, project, name, from_node, to_node, state, why, spec, snapshot_id, manifest";
