// Creates whose control replica died mid-way. A create is placed under a provisional id (`pending-…`)
// before the node is asked (api/cluster-calls.ts placeAndCreate), and the placing replica either
// confirms it under the sandbox's id or releases it. A replica killed in between (kill -9, its host
// lost) does neither: the row would hold its room on the node forever, and while it is there the
// node's strays are never destroyed (node-strays.ts holds off while any create is in flight there).
// How long a create may take has no useful bound (an image pull can take minutes), so the sweep goes
// by the placing replica's liveness instead of the row's age: a provisional placement is swept once
// the lease of the replica that placed it (placed_by, replica-lease.ts) has run out, or its row is
// gone (a clean stop deletes it last, once its pool to these tables is closed: nothing it has in
// flight can confirm a create after that). Rows placed before placements
// named their replica (placed_by null) are swept once no replica that was live when the row was
// placed is live now: one of those placed it. A sandbox the node did make for a swept create is then
// unknown to the control plane: a stray, destroyed by node-strays as usual once reported for a lease.
// Every replica's lease sweep runs this (cluster-role.ts); the DELETE takes each row once, so two
// replicas sweeping at once free each row's room once.
import type { Pool } from "pg";
import { HELD_CPU, HELD_MEM } from "./suspended-room.js";

/** A swept provisional placement, for the log. */
export interface OrphanCreate {
  sandboxId: string;
  node: string;
  placedBy: string | null;
}

/** Removes provisional placements whose placing replica is gone, giving their room back on their nodes. */
export async function sweepOrphanCreates(pool: Pool): Promise<OrphanCreate[]> {
  const { rows } = await pool.query<{ sandbox_id: string; node: string; placed_by: string | null }>(
    `WITH gone AS (
       DELETE FROM placements p WHERE p.sandbox_id LIKE 'pending-%' AND CASE
           WHEN p.placed_by IS NOT NULL THEN NOT EXISTS (SELECT 1 FROM control_replicas r
             WHERE r.id = p.placed_by AND r.lease_expires_at >= now())
           ELSE NOT EXISTS (SELECT 1 FROM control_replicas r
             WHERE r.lease_expires_at >= now() AND r.started_at <= p.placed_at) END
       RETURNING sandbox_id, node, placed_by, cpu_millis, memory_mb, suspended),
     freed AS (
       UPDATE nodes SET alloc_cpu_millis = alloc_cpu_millis - t.c, alloc_memory_mb = alloc_memory_mb - t.m,
         alloc_sandboxes = alloc_sandboxes - t.n
       FROM (SELECT node, sum(${HELD_CPU("gone")})::integer AS c, sum(${HELD_MEM("gone")})::integer AS m,
               count(*)::integer AS n FROM gone GROUP BY node) t
       WHERE nodes.name = t.node)
     SELECT sandbox_id, node, placed_by FROM gone ORDER BY node, sandbox_id`,
  );
  return rows.map((r) => ({ sandboxId: r.sandbox_id, node: r.node, placedBy: r.placed_by }));
}
