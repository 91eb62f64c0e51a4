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
import type { Pool } from "pg";
import { SbxError } from "@sbx-sh/protocol";
import { inTransaction } from "../store/postgres-runner.js";
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

interface Row {
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

const toRow = (r: Row): MoveRow => ({
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

const COLUMNS = "sandbox_id, project, name, from_node, to_node, state, why, spec, snapshot_id, manifest";
/** Advisory lock class of moves (the second key is the sandbox id's hash). */
const LOCK_CLASS = 0x5b3d;

export class SandboxMoves {
  constructor(private readonly pool: Pool) {}

  async get(sandboxId: string): Promise<MoveRow | null> {
    const { rows } = await this.pool.query<Row>(`SELECT ${COLUMNS} FROM sandbox_moves WHERE sandbox_id = $1`, [
      sandboxId,
    ]);
    return rows[0] ? toRow(rows[0]) : null;
  }

  /** Rows of sandboxes leaving `node` (or suspended there). */
  async from(node: string): Promise<MoveRow[]> {
    const { rows } = await this.pool.query<Row>(
      `SELECT ${COLUMNS} FROM sandbox_moves WHERE from_node = $1 ORDER BY sandbox_id`,
      [node],
    );
    return rows.map(toRow);
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

  /**
   * Moves the sandbox's placement off its node onto the best other ready node, in one transaction:
   * its room and quota are freed there and taken on the new node (sbx_place: ready nodes only, so
   * never a draining, cordoned or lost one). Answers the new node; no room anywhere changes nothing.
   */
  async placeElsewhere(sandboxId: string, k = 8): Promise<string> {
    return inTransaction(this.pool, async (c) => {
      const move = (
        await c.query<Row>(`SELECT ${COLUMNS} FROM sandbox_moves WHERE sandbox_id = $1 FOR UPDATE`, [sandboxId])
      )[0];
      if (!move || move.state !== "moving")
        throw new SbxError("failed_precondition", `sandbox ${sandboxId} is not being moved`);
      const gone = (
        await c.query<{ cpu_millis: number; memory_mb: number; info: unknown }>(
          `DELETE FROM placements WHERE sandbox_id = $1 AND node = $2 RETURNING cpu_millis, memory_mb, info`,
          [sandboxId, move.from_node],
        )
      )[0];
      if (!gone)
        throw new SbxError("sandbox_not_found", `sandbox ${move.name} is no longer placed on ${move.from_node}`);
      await c.query(
        `UPDATE nodes SET alloc_cpu_millis = alloc_cpu_millis - $2, alloc_memory_mb = alloc_memory_mb - $3,
           alloc_sandboxes = alloc_sandboxes - 1 WHERE name = $1`,
        [move.from_node, gone.cpu_millis, gone.memory_mb],
      );
      const won = (
        await c.query<{ node: string }>("SELECT node FROM sbx_place($1, $2, $3, $4, $5, '{}', '{}', $6)", [
          sandboxId,
          move.project,
          move.name,
          gone.cpu_millis,
          gone.memory_mb,
          k,
        ])
      )[0];
      if (!won)
        throw new SbxError(
          "failed_precondition",
          `no other ready node has room for ${gone.cpu_millis / 1000} cpus and ${gone.memory_mb} MB`,
        );
      await c.query(
        `UPDATE sandbox_moves SET state = 'placed', to_node = $2, info = $3, cpu_millis = $4, memory_mb = $5,
           updated_at = now() WHERE sandbox_id = $1`,
        [sandboxId, won.node, gone.info === null ? null : JSON.stringify(gone.info), gone.cpu_millis, gone.memory_mb],
      );
      // A copy this node was told to destroy earlier (moved away before) is not this one.
      await c.query("DELETE FROM given_up WHERE sandbox_id = $1 AND node = $2", [sandboxId, won.node]);
      return won.node;
    });
  }

  /** The new node runs it: the placement keeps its answer, the old node's copy is given up, the row goes. */
  async confirm(sandboxId: string, info: unknown): Promise<void> {
    await inTransaction(this.pool, async (c) => {
      const move = (
        await c.query<Row>(`SELECT ${COLUMNS} FROM sandbox_moves WHERE sandbox_id = $1 FOR UPDATE`, [sandboxId])
      )[0];
      if (!move || move.state !== "placed")
        throw new SbxError("failed_precondition", `sandbox ${sandboxId} is not being moved`);
      await c.query("UPDATE placements SET info = $3, placed_at = now() WHERE sandbox_id = $1 AND node = $2", [
        sandboxId,
        move.to_node,
        JSON.stringify(info),
      ]);
      await c.query(
        `INSERT INTO given_up (sandbox_id, node, project, name, info, reason) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (sandbox_id, node) DO UPDATE SET reason = EXCLUDED.reason, given_up_at = now(), destroyed_at = NULL`,
        [sandboxId, move.from_node, move.project, move.name, JSON.stringify(info), `moved to ${move.to_node}`],
      );
      await c.query("DELETE FROM sandbox_moves WHERE sandbox_id = $1", [sandboxId]);
    });
  }

  /**
   * The new node could not adopt it: the placement goes back to the old node (its room taken again
   * whatever its state: it held it a moment ago), the new node's partial copy is given up, and the
   * sandbox is parked again (suspended on the old node, resumable there or elsewhere).
   */
  async undo(sandboxId: string): Promise<void> {
    await inTransaction(this.pool, async (c) => {
      const move = (
        await c.query<Row & { cpu_millis: number; memory_mb: number; info: unknown }>(
          `SELECT ${COLUMNS}, cpu_millis, memory_mb, info FROM sandbox_moves WHERE sandbox_id = $1 FOR UPDATE`,
          [sandboxId],
        )
      )[0];
      if (!move || move.state !== "placed") return;
      const moved = await c.execute(
        `WITH gone AS (DELETE FROM placements WHERE sandbox_id = $1 AND node = $2 RETURNING cpu_millis, memory_mb)
         UPDATE nodes SET alloc_cpu_millis = alloc_cpu_millis - gone.cpu_millis,
           alloc_memory_mb = alloc_memory_mb - gone.memory_mb, alloc_sandboxes = alloc_sandboxes - 1
         FROM gone WHERE nodes.name = $2`,
        [sandboxId, move.to_node],
      );
      if (moved > 0 || (await c.query("SELECT 1 FROM placements WHERE sandbox_id = $1", [sandboxId])).length === 0) {
        await c.query(
          `INSERT INTO placements (sandbox_id, node, project, cpu_millis, memory_mb, name, info) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
          [
            sandboxId,
            move.from_node,
            move.project,
            move.cpu_millis,
            move.memory_mb,
            move.name,
            move.info === null ? null : JSON.stringify(move.info),
          ],
        );
        await c.query(
          `UPDATE nodes SET alloc_cpu_millis = alloc_cpu_millis + $2, alloc_memory_mb = alloc_memory_mb + $3,
             alloc_sandboxes = alloc_sandboxes + 1 WHERE name = $1`,
          [move.from_node, move.cpu_millis, move.memory_mb],
        );
      }
      await c.query(
        `INSERT INTO given_up (sandbox_id, node, project, name, reason) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (sandbox_id, node) DO UPDATE SET reason = EXCLUDED.reason, given_up_at = now(), destroyed_at = NULL`,
        [
          sandboxId,
          move.to_node,
          move.project,
          move.name,
          `moved back to ${move.from_node}: ${move.to_node} could not adopt it`,
        ],
      );
      await c.query(
        "UPDATE sandbox_moves SET state = 'suspended', to_node = NULL, updated_at = now() WHERE sandbox_id = $1",
        [sandboxId],
      );
    });
  }
}
