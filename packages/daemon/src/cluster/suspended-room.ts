// Suspended sandboxes hold no room on their node, as on a single daemon (which counts only running
// sandboxes): a suspended sandbox keeps its placement row (its node, for routing; its cpus and
// memory, to take again at resume) flagged `suspended`, and its node's allocation no longer counts
// it, so an idle node whose named sandboxes suspended at their timeout takes new ones. Project
// quotas still count it (the placement's own columns are unchanged): a quota caps what a project
// holds, and a suspended sandbox can be resumed at any time.
//   - A suspend through the control plane frees the room once the node answered it.
//   - A resume through the control plane takes the room back first, on the same node, with the
//     placer's conditional UPDATE (room re-checked under the node's row lock, so two replicas never
//     over-commit a node): no room there is failed_precondition saying so, and nothing changes; a
//     resume the node then refuses gives the room back.
//   - Node reports reconcile the rest (a node suspends a named sandbox at its timeout by itself):
//     a placement the report lists as suspended frees its room, one it lists as running takes it
//     again (it runs, whatever the room). Only placements unchanged for longer than a lease (so a
//     report made before a suspend or resume cannot undo it; every change restarts placed_at), and
//     not while a move is in flight (sandbox-moves.ts: the move's steps own its placement).
import type { Pool } from "pg";
import { SbxError } from "@sbx-sh/protocol";

/** Marks the sandbox's placement suspended and frees its room on the node; false if it was already. */
export async function suspendPlacement(pool: Pool, sandboxId: string): Promise<boolean> {
  const { rowCount } = await pool.query(
    `WITH p AS (UPDATE placements SET suspended = true, placed_at = now()
       WHERE sandbox_id = $1 AND NOT suspended RETURNING node, cpu_millis, memory_mb)
     UPDATE nodes SET alloc_cpu_millis = alloc_cpu_millis - p.cpu_millis, alloc_memory_mb = alloc_memory_mb - p.memory_mb
     FROM p WHERE nodes.name = p.node`,
    [sandboxId],
  );
  return (rowCount ?? 0) > 0;
}

/**
 * Takes a suspended sandbox's room back on its node before it resumes there; answers whether it
 * took any (false: it was not suspended, nothing to take). No room: failed_precondition, nothing
 * changed. The placement row is locked (FOR UPDATE) first, so of two concurrent resumes the second
 * sees it taken and takes nothing; the node's room is re-checked under its row lock, as sbx_place does.
 */
export async function resumePlacement(pool: Pool, sandboxId: string): Promise<boolean> {
  const { rows } = await pool.query<{ found: number; taken: number; node: string | null; c: number; m: number }>(
    `WITH p AS (SELECT sandbox_id, node, cpu_millis, memory_mb FROM placements
         WHERE sandbox_id = $1 AND suspended FOR UPDATE),
       taken AS (UPDATE nodes n SET alloc_cpu_millis = n.alloc_cpu_millis + p.cpu_millis,
           alloc_memory_mb = n.alloc_memory_mb + p.memory_mb
         FROM p WHERE n.name = p.node AND n.cpu_millis - n.alloc_cpu_millis >= p.cpu_millis
           AND n.memory_mb - n.alloc_memory_mb >= p.memory_mb
         RETURNING n.name),
       back AS (UPDATE placements SET suspended = false, placed_at = now()
         FROM taken WHERE placements.sandbox_id = $1 RETURNING 1)
     SELECT (SELECT count(*) FROM p)::integer AS found, (SELECT count(*) FROM back)::integer AS taken,
       (SELECT node FROM p) AS node, coalesce((SELECT cpu_millis FROM p), 0) AS c,
       coalesce((SELECT memory_mb FROM p), 0) AS m`,
    [sandboxId],
  );
  const r = rows[0]!;
  if (r.found === 0) {
    // Not known suspended (its node's report saying so may still be on its way): its placed_at
    // restarts, so that report cannot mark it suspended after this resume.
    await pool.query("UPDATE placements SET placed_at = now() WHERE sandbox_id = $1", [sandboxId]);
    return false;
  }
  if (r.taken === 0)
    throw new SbxError(
      "failed_precondition",
      `node ${r.node} has no room to resume sandbox ${sandboxId} (${r.c / 1000} cpus and ${r.m} MB): ` +
        "end or suspend other sandboxes there first",
      { node: r.node },
    );
  return true;
}

/**
 * Reconciles what `node` reports (`live`: its sandboxes that have not ended; `suspended`: those of
 * them suspended) with its placements; answers the sandboxes whose room was taken back because the
 * node runs them while the control plane had them suspended (for the log).
 */
export async function reconcileSuspended(
  pool: Pool,
  node: string,
  live: string[],
  suspended: string[],
  leaseSecs: number,
): Promise<string[]> {
  const { rows } = await pool.query<{ sandbox_id: string }>(
    `WITH flip AS (
       UPDATE placements p SET suspended = NOT p.suspended, placed_at = now()
       WHERE p.node = $1 AND p.sandbox_id = ANY($2::text[]) AND p.suspended <> (p.sandbox_id = ANY($3::text[]))
         AND p.placed_at < now() - make_interval(secs => $4)
         AND NOT EXISTS (SELECT 1 FROM sandbox_moves m WHERE m.sandbox_id = p.sandbox_id AND m.state <> 'suspended')
       RETURNING p.sandbox_id, p.suspended, p.cpu_millis, p.memory_mb),
     moved AS (
       UPDATE nodes SET alloc_cpu_millis = alloc_cpu_millis + t.c, alloc_memory_mb = alloc_memory_mb + t.m
       FROM (SELECT coalesce(sum(CASE WHEN suspended THEN -cpu_millis ELSE cpu_millis END), 0)::integer AS c,
               coalesce(sum(CASE WHEN suspended THEN -memory_mb ELSE memory_mb END), 0)::integer AS m,
               count(*)::integer AS n FROM flip) t
       WHERE nodes.name = $1 AND t.n > 0)
     SELECT sandbox_id FROM flip WHERE NOT suspended ORDER BY sandbox_id`,
    [node, live, suspended, leaseSecs],
  );
  return rows.map((r) => r.sandbox_id);
}

/** SQL for the room a placement row `p` holds on its node: none while suspended. */
export const HELD_CPU = (p: string): string => `CASE WHEN ${p}.suspended THEN 0 ELSE ${p}.cpu_millis END`;
export const HELD_MEM = (p: string): string => `CASE WHEN ${p}.suspended THEN 0 ELSE ${p}.memory_mb END`;
