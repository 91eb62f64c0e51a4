// The control plane's record of moving named sandboxes between nodes, in PostgreSQL (table
// sandbox_moves, cluster migration 7). A row is either a suspended sandbox the control plane can
// start elsewhere (state `suspended`: its suspend snapshot is in the cluster registry, and what it
// was created with is kept, never its secrets' values), or a move in flight:
//   suspending → the node it leaves was asked to suspend it;
//   moving     → it is suspended there and described here; room is being found elsewhere;
//   placed     → its placement moved to the new node (one transaction: freed on the old node,
//                placed on the new one with the project's quota counted once), the new node is
//                adopting it;
// and the row goes in the transaction that confirms the move (the placement keeps the new node's
// answer, the old node's copy is given up so it destroys it). An adoption that fails is undone in
// one transaction too (placement back on the old node, the new node's partial copy given up). Every
// step can be taken again: a control replica that dies mid-move leaves a row a re-run finishes.
// While a move is in flight, calls on the sandbox answer node_unavailable (sandbox-directory.ts).
// This module keeps the rows and the move lock; the transactions that move the placement are
// move-placement.ts, the rows' shape move-rows.ts.
import type { Pool } from "pg";
import { SbxError } from "@sbx-sh/protocol";
import type { MovedSnapshot, MoveSpec } from "./move-spec.js";
import { confirmMove, placeElsewhere, undoMove } from "./move-placement.js";
import {
  MOVE_COLUMNS,
  toMoveRow,
  type MoveRow,
  type MoveState,
  type MoveTableRow,
  type NodePlacement,
} from "./move-rows.js";

/** Advisory lock class of moves (the second key is the sandbox id's hash). */
const LOCK_CLASS = 0x5b3d;

export class SandboxMoves {
  constructor(private readonly pool: Pool) {}

  async get(sandboxId: string): Promise<MoveRow | null> {
    const { rows } = await this.pool.query<MoveTableRow>(
      `SELECT ${MOVE_COLUMNS} FROM sandbox_moves WHERE sandbox_id = $1`,
      [sandboxId],
    );
    return rows[0] ? toMoveRow(rows[0]) : null;
  }

  /** Rows of sandboxes leaving `node` (or suspended there). */
  async from(node: string): Promise<MoveRow[]> {
    const { rows } = await this.pool.query<MoveTableRow>(
      `SELECT ${MOVE_COLUMNS} FROM sandbox_moves WHERE from_node = $1 ORDER BY sandbox_id`,
      [node],
    );
    return rows.map(toMoveRow);
  }

  /** The sandboxes placed on `node` (not creates in flight). */
  async placedOn(node: string): Promise<NodePlacement[]> {
    const { rows } = await this.pool.query<{ sandbox_id: string; project: string; name: string | null }>(
      `SELECT sandbox_id, project, name FROM placements WHERE node = $1 AND sandbox_id NOT LIKE 'pending-%'
       ORDER BY placed_at, sandbox_id`,
      [node],
    );
    return rows.map((r) => ({ sandboxId: r.sandbox_id, project: r.project, name: r.name }));
  }

  /** Of the sandboxes `node` reports suspended, the named ones placed there without a record. */
  async unrecorded(node: string, ids: string[]): Promise<NodePlacement[]> {
    const { rows } = await this.pool.query<{ sandbox_id: string; project: string; name: string | null }>(
      `SELECT p.sandbox_id, p.project, p.name FROM placements p
       WHERE p.node = $1 AND p.sandbox_id = ANY($2::text[]) AND p.name IS NOT NULL
         AND NOT EXISTS (SELECT 1 FROM sandbox_moves m WHERE m.sandbox_id = p.sandbox_id)`,
      [node, ids],
    );
    return rows.map((r) => ({ sandboxId: r.sandbox_id, project: r.project, name: r.name }));
  }

  /** Whether another ready node has room for the sandbox now (checked before it is suspended for nothing). */
  async roomElsewhere(sandboxId: string): Promise<boolean> {
    const { rows } = await this.pool.query<{ ok: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM placements p JOIN nodes n ON n.name <> p.node AND n.state = 'ready'
         AND n.lease_expires_at > now() AND n.cpu_millis - n.alloc_cpu_millis >= p.cpu_millis
         AND n.memory_mb - n.alloc_memory_mb >= p.memory_mb
       WHERE p.sandbox_id = $1) AS ok`,
      [sandboxId],
    );
    return rows[0]?.ok === true;
  }

  /**
   * Runs `fn` holding the sandbox's move lock (a session advisory lock on its own connection): one
   * mover at a time per sandbox, and a replica that dies lets go at once (its connection closes).
   */
  async locked<T>(sandboxId: string, fn: () => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let held = false;
    try {
      const { rows } = await client.query<{ ok: boolean }>("SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok", [
        LOCK_CLASS,
        sandboxId,
      ]);
      held = rows[0]?.ok === true;
      if (!held)
        throw new SbxError(
          "failed_precondition",
          `sandbox ${sandboxId} is being moved by another request: try again in a moment`,
        );
      return await fn();
    } finally {
      if (held)
        await client
          .query("SELECT pg_advisory_unlock($1, hashtext($2))", [LOCK_CLASS, sandboxId])
          .catch(() => undefined);
      client.release();
    }
  }

  /** Starts a move: the row in `suspending` (or the row already there, unchanged). */
  async begin(p: NodePlacement & { name: string }, from: string, why: string): Promise<MoveRow> {
    await this.pool.query(
      `INSERT INTO sandbox_moves (sandbox_id, project, name, from_node, state, why) VALUES ($1, $2, $3, $4, 'suspending', $5)
       ON CONFLICT (sandbox_id) DO NOTHING`,
      [p.sandboxId, p.project, p.name, from, why],
    );
    return (await this.get(p.sandboxId))!;
  }

  /** The node it leaves described it (suspended): `state` is `moving` for a move, `suspended` when parked. */
  async described(
    sandboxId: string,
    spec: MoveSpec,
    snap: MovedSnapshot,
    state: "moving" | "suspended",
  ): Promise<void> {
    await this.pool.query(
      `UPDATE sandbox_moves SET spec = $2, snapshot_id = $3, manifest = $4, state = $5, updated_at = now()
       WHERE sandbox_id = $1 AND state IN ('suspending', 'suspended', 'moving')`,
      [sandboxId, JSON.stringify(spec), snap.id, snap.manifest, state],
    );
  }

  /** A suspend through the control plane: recorded so the sandbox can be started elsewhere later. */
  async parked(p: NodePlacement & { name: string }, node: string, spec: MoveSpec, snap: MovedSnapshot): Promise<void> {
    await this.pool.query(
      `INSERT INTO sandbox_moves (sandbox_id, project, name, from_node, state, why, spec, snapshot_id, manifest)
       VALUES ($1, $2, $3, $4, 'suspended', 'suspend', $5, $6, $7)
       ON CONFLICT (sandbox_id) DO UPDATE SET spec = EXCLUDED.spec, snapshot_id = EXCLUDED.snapshot_id,
         manifest = EXCLUDED.manifest, from_node = EXCLUDED.from_node, updated_at = now()
       WHERE sandbox_moves.state = 'suspended'`,
      [p.sandboxId, p.project, p.name, node, JSON.stringify(spec), snap.id, snap.manifest],
    );
  }

  /** A parked sandbox is claimed for a move (its node is lost or draining); false if it was not parked. */
  async claim(sandboxId: string, why: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `UPDATE sandbox_moves SET state = 'moving', why = $2, updated_at = now() WHERE sandbox_id = $1 AND state = 'suspended'`,
      [sandboxId, why],
    );
    return (rowCount ?? 0) > 0;
  }

  /** Forgets the row (the move was abandoned before any placement changed, or the sandbox resumed or ended). */
  async forget(sandboxId: string, states: MoveState[] = ["suspending", "suspended", "moving"]): Promise<void> {
    await this.pool.query("DELETE FROM sandbox_moves WHERE sandbox_id = $1 AND state = ANY($2::text[])", [
      sandboxId,
      states,
    ]);
  }

  /** Moves the placement onto the best other ready node (move-placement.ts); answers the new node. */
  placeElsewhere(sandboxId: string, k = 8): Promise<string> {
    return placeElsewhere(this.pool, sandboxId, k);
  }

  /** The new node runs it: the placement keeps its answer, the old node's copy is given up, the row goes. */
  confirm(sandboxId: string, info: unknown): Promise<void> {
    return confirmMove(this.pool, sandboxId, info);
  }

  /** The new node could not adopt it: the placement goes back, the sandbox is parked again (move-placement.ts). */
  undo(sandboxId: string): Promise<void> {
    return undoMove(this.pool, sandboxId);
  }
}
