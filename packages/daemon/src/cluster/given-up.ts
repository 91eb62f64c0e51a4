// Sandboxes the control plane gave up, and what their nodes must destroy when they come back. A
// node lost for longer than --node-give-up has all its placements given up (their room and quota
// freed, the reason kept); a sandbox terminated while its node is lost is given up alone. Calls on
// a given-up sandbox answer sandbox_not_found with the reason. A node that registers or heartbeats
// again is told, in the answer, which of the sandboxes it reports were given up: it destroys them
// (node-agent.ts), so nothing leaks, and the sandboxes the control plane still places there stay.
// Every row is kept until the retention runs out, so the reason can still be told. A sandbox moved
// to another node (sandbox-moves.ts) is given up on the node it left (reason 'moved to …'): that
// node destroys its copy, and the row is no reason for anything else.
import type { Pool } from "pg";
import { SbxError, type SandboxInfo } from "@sbx-sh/protocol";
import { HELD_CPU, HELD_MEM } from "./suspended-room.js";

export interface GivenUpSandbox {
  sandboxId: string;
  name: string | null;
  node: string;
  reason: string;
  /** The node reported it gone (destroyed), or null while it may still run there. */
  destroyedAt: string | null;
}

/** How a given-up sandbox is listed: why, and whether its node has destroyed it yet (nothing left there). */
export function givenUpReason(g: GivenUpSandbox): string {
  return g.destroyedAt
    ? `${g.reason}; its node destroyed it at ${g.destroyedAt}`
    : `${g.reason}; its node destroys it when it comes back`;
}

/**
 * Moves the placements `where` selects (a condition on placements p and nodes n) to given_up with
 * `reason` (an SQL expression), freeing their nodes' allocations in the same statement.
 */
const giveUpSql = (where: string, reason: string): string => `
  WITH gone AS (
    DELETE FROM placements p USING nodes n WHERE p.node = n.name AND (${where})
    RETURNING p.sandbox_id, p.node, p.project, p.name, ${HELD_CPU("p")} AS cpu_millis, ${HELD_MEM("p")} AS memory_mb,
      p.info, ${reason} AS reason),
  kept AS (
    INSERT INTO given_up (sandbox_id, node, project, name, info, reason)
    SELECT sandbox_id, node, project, name, info, reason FROM gone ON CONFLICT (sandbox_id, node) DO NOTHING),
  freed AS (
    UPDATE nodes SET alloc_cpu_millis = alloc_cpu_millis - t.c, alloc_memory_mb = alloc_memory_mb - t.m,
      alloc_sandboxes = alloc_sandboxes - t.k
    FROM (SELECT node, sum(cpu_millis)::integer AS c, sum(memory_mb)::integer AS m, count(*)::integer AS k
          FROM gone GROUP BY node) t
    WHERE nodes.name = t.node)
  SELECT sandbox_id, node, info, reason FROM gone`;

const LOST_AT = `'its node ' || n.name || ' was lost at ' ||
  to_char(n.lost_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || ' and did not come back in time: given up'`;

export class GivenUp {
  constructor(private readonly pool: Pool) {}

  /** Gives up every placement of the nodes lost for more than `afterSecs`; answers them by node. */
  async giveUpLost(afterSecs: number): Promise<Map<string, string[]>> {
    const { rows } = await this.pool.query<{ sandbox_id: string; node: string }>(
      giveUpSql(
        // A sandbox the control plane can start elsewhere from its suspend snapshot is kept (sandbox-moves.ts).
        `n.state = 'lost' AND n.lost_at < now() - make_interval(secs => $1) AND p.sandbox_id NOT LIKE 'pending-%'
         AND NOT EXISTS (SELECT 1 FROM sandbox_moves m WHERE m.sandbox_id = p.sandbox_id)`,
        LOST_AT,
      ),
      [afterSecs],
    );
    const byNode = new Map<string, string[]>();
    for (const r of rows) byNode.set(r.node, [...(byNode.get(r.node) ?? []), r.sandbox_id]);
    return byNode;
  }

  /**
   * Terminates a sandbox whose node is lost or revoked: gives it up (its node destroys it when it
   * comes back) and answers it as terminated, from what its node said at create. Null when the
   * node is live, or the placement predates kept answers: the caller goes on as usual.
   */
  async terminate(sandboxId: string): Promise<SandboxInfo | null> {
    const { rows } = await this.pool.query<{ info: SandboxInfo | null }>(
      giveUpSql(
        `p.sandbox_id = $1 AND p.info IS NOT NULL AND (n.state IN ('lost', 'revoked') OR n.lease_expires_at < now())`,
        `'terminated while its node ' || n.name || ' was ' || CASE WHEN n.state = 'revoked' THEN 'revoked' ELSE 'lost' END`,
      ),
      [sandboxId],
    );
    const info = rows[0]?.info;
    if (!info) return null;
    return {
      ...info,
      status: "terminated",
      terminatedAt: new Date().toISOString(),
      terminationReason: "requested",
      expiresAt: null,
    };
  }

  /** Of the sandboxes `node` reports, those given up (to destroy); the others given up there are gone now. */
  async toDestroy(node: string, reported: string[]): Promise<string[]> {
    const { rows } = await this.pool.query<{ sandbox_id: string }>(
      `WITH done AS (UPDATE given_up SET destroyed_at = now()
         WHERE node = $1 AND destroyed_at IS NULL AND NOT (sandbox_id = ANY($2::text[])))
       SELECT sandbox_id FROM given_up WHERE node = $1 AND destroyed_at IS NULL AND sandbox_id = ANY($2::text[])
       ORDER BY sandbox_id`,
      [node, reported],
    );
    return rows.map((r) => r.sandbox_id);
  }

  /** Throws sandbox_not_found with the reason when `idOrName` of `project` was given up; else returns. */
  async explain(project: string, idOrName: string): Promise<void> {
    const { rows } = await this.pool.query<{ sandbox_id: string; node: string; reason: string }>(
      `SELECT sandbox_id, node, reason FROM given_up WHERE project = $1 AND (sandbox_id = $2 OR name = $2)
         AND reason NOT LIKE 'moved %'
       ORDER BY given_up_at DESC LIMIT 1`,
      [project, idOrName],
    );
    const r = rows[0];
    if (r)
      throw new SbxError("sandbox_not_found", `sandbox ${idOrName} is gone: ${r.reason}`, {
        sandbox: r.sandbox_id,
        node: r.node,
      });
  }

  /** The project's sandboxes given up because their node was lost (not those terminated on purpose). */
  async lostOfProject(project: string): Promise<GivenUpSandbox[]> {
    const { rows } = await this.pool.query<{
      sandbox_id: string;
      name: string | null;
      node: string;
      reason: string;
      destroyed_at: Date | null;
    }>(
      `SELECT sandbox_id, name, node, reason, destroyed_at FROM given_up
       WHERE project = $1 AND reason NOT LIKE 'terminated %' AND reason NOT LIKE 'moved %' ORDER BY given_up_at`,
      [project],
    );
    return rows.map((r) => ({
      sandboxId: r.sandbox_id,
      name: r.name,
      node: r.node,
      reason: r.reason,
      destroyedAt: r.destroyed_at?.toISOString() ?? null,
    }));
  }

  /** Forgets given-up sandboxes older than the retention (as terminated sandboxes are pruned). */
  async prune(retentionSecs: number): Promise<number> {
    const { rowCount } = await this.pool.query(
      "DELETE FROM given_up WHERE given_up_at < now() - make_interval(secs => $1)",
      [retentionSecs],
    );
    return rowCount ?? 0;
  }
}
