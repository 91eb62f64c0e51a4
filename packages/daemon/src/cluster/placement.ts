// Placement: which node runs a new sandbox, decided in one PostgreSQL transaction. Quotas first
// (the project's quota row is locked, so concurrent placements of one project are counted one at
// a time); then a sample of eligible nodes (ready, live lease by the database's clock, matching
// the node selector, with room) is ranked, and the best is taken with a conditional UPDATE that
// re-checks the room under the row lock. Two placers (two control replicas) racing for the last
// room on a node: the second one's UPDATE sees the first one's allocation and moves on to the next
// candidate, so a node is never over-committed.
import type { Pool } from "pg";
import { SbxError } from "@sbx-sh/protocol";
import { inTransaction, type PgRunner } from "../store/postgres-runner.js";
import { uniqueViolation } from "../store/postgres-meta.js";

export interface PlacementRequest {
  sandboxId: string;
  project: string;
  /** The sandbox's name, unique in its project across the cluster (null: unnamed). */
  name?: string | null;
  cpus: number;
  memoryMb: number;
  /** Digests of the image's layers: nodes that cache more of them are preferred. */
  layers: string[];
  /** Labels a node must have (key = value), as `--node-selector` gives them. */
  selector: Record<string, string>;
}

export interface Candidate {
  name: string;
  cpuMillis: number;
  memoryMb: number;
  freeCpuMillis: number;
  freeMemoryMb: number;
  /** How many of the request's layers the node caches. */
  cachedLayers: number;
}

export interface Placement {
  node: string;
  cachedLayers: number;
  /** How many candidates were ranked. */
  candidates: number;
}

export interface ProjectQuota {
  maxSandboxes: number | null;
  maxCpus: number | null;
  maxMemoryMb: number | null;
}

/**
 * Best first: nodes caching more of the image's layers (no pull), then the most room left after
 * the placement (memory and cpu as fractions of the node), which spreads load.
 */
export function rankCandidates(cands: Candidate[], req: { cpuMillis: number; memoryMb: number; layers: number }) {
  const score = (c: Candidate): number =>
    (req.layers === 0 ? 0 : (2 * c.cachedLayers) / req.layers) +
    (c.freeMemoryMb - req.memoryMb) / Math.max(1, c.memoryMb) +
    (c.freeCpuMillis - req.cpuMillis) / Math.max(1, c.cpuMillis);
  return [...cands].sort((a, b) => score(b) - score(a) || (a.name < b.name ? -1 : 1));
}

export class Placer {
  /** `k`: how many random eligible nodes (plus as many caching the layers) are ranked per decision. */
  constructor(
    private readonly pool: Pool,
    private readonly opts: { k: number } = { k: 8 },
  ) {}

  async setQuota(project: string, quota: ProjectQuota): Promise<void> {
    const milli = quota.maxCpus === null ? null : Math.round(quota.maxCpus * 1000);
    await this.pool.query(
      `INSERT INTO project_quotas (project, max_sandboxes, max_cpu_millis, max_memory_mb) VALUES ($1, $2, $3, $4)
       ON CONFLICT (project) DO UPDATE SET max_sandboxes = $2, max_cpu_millis = $3, max_memory_mb = $4`,
      [project, quota.maxSandboxes, milli, quota.maxMemoryMb],
    );
  }

  /** Chooses a node and records the sandbox's allocation there, or fails and records nothing. */
  async place(req: PlacementRequest): Promise<Placement> {
    const cpuMillis = Math.round(req.cpus * 1000);
    if (!(cpuMillis > 0) || !Number.isInteger(req.memoryMb) || req.memoryMb <= 0)
      throw new SbxError("invalid_argument", "placement needs cpus > 0 and a whole, positive memoryMb");
    return inTransaction(this.pool, async (q) => {
      await this.checkQuota(q, req.project, cpuMillis, req.memoryMb);
      // A placement that loses every race retries on a fresh sample; the rows it saw full are skipped.
      for (let attempt = 0; attempt < 3; attempt++) {
        const ranked = rankCandidates(await this.sample(q, req, cpuMillis), {
          cpuMillis,
          memoryMb: req.memoryMb,
          layers: req.layers.length,
        });
        if (ranked.length === 0) break;
        for (const c of ranked) {
          if (await this.allocate(q, req, c.name, cpuMillis))
            return { node: c.name, cachedLayers: c.cachedLayers, candidates: ranked.length };
        }
      }
      throw new SbxError(
        "failed_precondition",
        `no ready node has room for ${req.cpus} cpus and ${req.memoryMb} MB` +
          (Object.keys(req.selector).length ? ` with labels ${JSON.stringify(req.selector)}` : ""),
      );
    });
  }

  /** Frees a sandbox's allocation on its node; answers whether it had one. One statement, so atomic by itself. */
  async release(sandboxId: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `WITH gone AS (DELETE FROM placements WHERE sandbox_id = $1 RETURNING node, cpu_millis, memory_mb)
       UPDATE nodes SET alloc_cpu_millis = alloc_cpu_millis - gone.cpu_millis,
         alloc_memory_mb = alloc_memory_mb - gone.memory_mb, alloc_sandboxes = alloc_sandboxes - 1
       FROM gone WHERE nodes.name = gone.node`,
      [sandboxId],
    );
    return (rowCount ?? 0) > 0;
  }

  private async checkQuota(q: PgRunner, project: string, cpuMillis: number, memoryMb: number): Promise<void> {
    const quota = (
      await q.query<{ s: number | null; c: number | null; m: number | null }>(
        `SELECT max_sandboxes AS s, max_cpu_millis AS c, max_memory_mb AS m FROM project_quotas
         WHERE project = $1 FOR UPDATE`,
        [project],
      )
    )[0];
    if (!quota) return;
    const used = (
      await q.query<{ n: number; c: number; m: number }>(
        `SELECT count(*)::integer AS n, coalesce(sum(cpu_millis), 0)::integer AS c,
           coalesce(sum(memory_mb), 0)::integer AS m FROM placements WHERE project = $1`,
        [project],
      )
    )[0]!;
    const over =
      quota.s !== null && used.n + 1 > quota.s
        ? `${quota.s} sandboxes`
        : quota.c !== null && used.c + cpuMillis > quota.c
          ? `${quota.c / 1000} cpus`
          : quota.m !== null && used.m + memoryMb > quota.m
            ? `${quota.m} MB of memory`
            : null;
    if (over)
      throw new SbxError("failed_precondition", `project ${project} would exceed its quota of ${over}`, {
        project,
        used: { sandboxes: used.n, cpus: used.c / 1000, memoryMb: used.m },
      });
  }

  /** Up to k random eligible nodes, plus up to k eligible ones caching some of the layers. */
  private async sample(q: PgRunner, req: PlacementRequest, cpuMillis: number): Promise<Candidate[]> {
    return q.query<Candidate>(
      `WITH eligible AS (
         SELECT name, cpu_millis, memory_mb, cpu_millis - alloc_cpu_millis AS free_cpu,
           memory_mb - alloc_memory_mb AS free_mem, layers
         FROM nodes
         WHERE state = 'ready' AND lease_expires_at > now() AND labels @> $1::jsonb
           AND cpu_millis - alloc_cpu_millis >= $2 AND memory_mb - alloc_memory_mb >= $3),
       picked AS (
         (SELECT * FROM eligible ORDER BY random() LIMIT $4)
         UNION
         (SELECT * FROM eligible WHERE cardinality($5::text[]) > 0 AND layers && $5::text[] ORDER BY random() LIMIT $4))
       SELECT name, cpu_millis AS "cpuMillis", memory_mb AS "memoryMb", free_cpu AS "freeCpuMillis",
         free_mem AS "freeMemoryMb",
         (SELECT count(*) FROM unnest(layers) AS l WHERE l = ANY($5::text[]))::integer AS "cachedLayers"
       FROM picked`,
      [JSON.stringify(req.selector), cpuMillis, req.memoryMb, this.opts.k, req.layers],
    );
  }

  /**
   * Takes the room on `node` and records the placement, in one statement (one round trip): the
   * UPDATE re-checks the room under the row lock, and no row means another placer got there first.
   */
  private async allocate(q: PgRunner, req: PlacementRequest, node: string, cpuMillis: number): Promise<boolean> {
    try {
      const won = await q.execute(
        `WITH taken AS (
           UPDATE nodes SET alloc_cpu_millis = alloc_cpu_millis + $2, alloc_memory_mb = alloc_memory_mb + $3,
             alloc_sandboxes = alloc_sandboxes + 1
           WHERE name = $1 AND state = 'ready' AND lease_expires_at > now()
             AND cpu_millis - alloc_cpu_millis >= $2 AND memory_mb - alloc_memory_mb >= $3
           RETURNING name)
         INSERT INTO placements (sandbox_id, node, project, cpu_millis, memory_mb, name)
         SELECT $4, name, $5, $2, $3, $6 FROM taken`,
        [node, cpuMillis, req.memoryMb, req.sandboxId, req.project, req.name ?? null],
      );
      return won > 0;
    } catch (err) {
      if (uniqueViolation(err) === "placements_by_name")
        throw new SbxError("already_exists", `a sandbox named ${req.name} already exists in project ${req.project}`);
      if (uniqueViolation(err) !== undefined)
        throw new SbxError("already_exists", `sandbox ${req.sandboxId} is already placed`);
      throw err;
    }
  }
}
