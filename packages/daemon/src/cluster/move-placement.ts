// The transactions that move a named sandbox's placement between nodes, the steps of a move that
// change more than its sandbox_moves row (sandbox-moves.ts has the whole story): taking room on
// a new node while freeing the old one's, confirming the new node's copy, or undoing a failed
// adoption. Each is one PostgreSQL transaction that holds the row FOR UPDATE, so a re-run after a
// replica died mid-move finds either all of a step done or none of it.
import type { Pool } from "pg";
import { SbxError } from "@sbx-sh/protocol";
import { inTransaction, type PgRunner } from "../store/postgres-runner.js";
import { MOVE_COLUMNS, type MoveTableRow } from "./move-rows.js";
import { HELD_CPU, HELD_MEM } from "./suspended-room.js";

/**
 * Moves the sandbox's placement off its node onto the best other ready node, in one transaction:
 * its room and quota are freed there and taken on the new node (sbx_place: ready nodes only, so
 * never a draining, cordoned or lost one). Answers the new node; no room anywhere changes nothing.
 */
export async function placeElsewhere(pool: Pool, sandboxId: string, k = 8): Promise<string> {
  return inTransaction(pool, async (c) => {
    const move = await moveIn(c, sandboxId, "moving");
    const gone = (
      await c.query<{ cpu_millis: number; memory_mb: number; info: unknown; suspended: boolean }>(
        `DELETE FROM placements WHERE sandbox_id = $1 AND node = $2 RETURNING cpu_millis, memory_mb, info, suspended`,
        [sandboxId, move.from_node],
      )
    )[0];
    if (!gone) throw new SbxError("sandbox_not_found", `sandbox ${move.name} is no longer placed on ${move.from_node}`);
    await c.query(
      `UPDATE nodes SET alloc_cpu_millis = alloc_cpu_millis - $2, alloc_memory_mb = alloc_memory_mb - $3,
         alloc_sandboxes = alloc_sandboxes - 1 WHERE name = $1`,
      // A suspended placement held no room there (suspended-room.ts).
      [move.from_node, gone.suspended ? 0 : gone.cpu_millis, gone.suspended ? 0 : gone.memory_mb],
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
export async function confirmMove(pool: Pool, sandboxId: string, info: unknown): Promise<void> {
  await inTransaction(pool, async (c) => {
    const move = await moveIn(c, sandboxId, "placed");
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
 * whatever its state: it held it a moment ago, and the mover resumes it there at once if it answers;
 * if not, the node's next report frees it, suspended-room.ts), the new node's partial copy is given
 * up, and the sandbox is parked again (suspended on the old node, resumable there or elsewhere).
 */
export async function undoMove(pool: Pool, sandboxId: string): Promise<void> {
  await inTransaction(pool, async (c) => {
    const move = (
      await c.query<MoveTableRow & { cpu_millis: number; memory_mb: number; info: unknown }>(
        `SELECT ${MOVE_COLUMNS}, cpu_millis, memory_mb, info FROM sandbox_moves WHERE sandbox_id = $1 FOR UPDATE`,
        [sandboxId],
      )
    )[0];
    if (!move || move.state !== "placed") return;
    const moved = await c.execute(
      `WITH gone AS (DELETE FROM placements WHERE sandbox_id = $1 AND node = $2
         RETURNING cpu_millis, memory_mb, suspended)
       UPDATE nodes SET alloc_cpu_millis = alloc_cpu_millis - ${HELD_CPU("gone")},
         alloc_memory_mb = alloc_memory_mb - ${HELD_MEM("gone")}, alloc_sandboxes = alloc_sandboxes - 1
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

/** The move's row, locked until the transaction ends; failed_precondition unless it is in `state`. */
async function moveIn(c: PgRunner, sandboxId: string, state: MoveTableRow["state"]): Promise<MoveTableRow> {
  const move = (
    await c.query<MoveTableRow>(`SELECT ${MOVE_COLUMNS} FROM sandbox_moves WHERE sandbox_id = $1 FOR UPDATE`, [
      sandboxId,
    ])
  )[0];
  if (!move || move.state !== state)
    throw new SbxError("failed_precondition", `sandbox ${sandboxId} is not being moved`);
  return move;
}
