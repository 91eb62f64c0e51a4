// Placement: which node runs a new sandbox, decided in one PostgreSQL transaction, one call of the
// sbx_place function (place-function.ts). Quotas first (the project's quota row is locked, so
// concurrent placements of one project are counted one at a time); then a sample of eligible nodes
// (ready, live lease by the database's clock, matching the node selector, with room) is ranked
// (cached layers first, then room left), and the best is taken with a conditional UPDATE that
// re-checks the room under the row lock. Two placers (two control replicas) racing for the last
// room on a node: the second one's UPDATE sees the first one's allocation and moves on to the next
// candidate, so a node is never over-committed.
import type { Pool } from "pg";
import { SbxError } from "@sbx-sh/protocol";
import { uniqueViolation } from "../store/postgres-meta.js";
import { HELD_CPU, HELD_MEM, resumePlacement, suspendPlacement } from "./suspended-room.js";

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

/** How often provisional placements whose release failed are released again (ms). */
const RELEASE_RETRY_MS = 2_000;

export class Placer {
  /** Provisional placements whose release failed (PostgreSQL down): released again every RELEASE_RETRY_MS. */
  private readonly owed = new Set<string>();
  private retry: NodeJS.Timeout | undefined;

  /**
   * `k`: how many random eligible nodes (plus as many caching the layers) are ranked per decision;
   * `owner`: the placing control replica's lease id (replica-lease.ts), recorded on each placement
   * so a create it leaves when it dies is swept once its lease runs out (orphan-creates.ts).
   */
  constructor(
    private readonly pool: Pool,
    private readonly opts: { k?: number; owner?: string } = {},
  ) {}

  async setQuota(project: string, quota: ProjectQuota): Promise<void> {
    const milli = quota.maxCpus === null ? null : Math.round(quota.maxCpus * 1000);
    await this.pool.query(
      // A changed quota recounts its usage too (under the row's lock), so counters can never drift for long.
      `INSERT INTO project_quotas (project, max_sandboxes, max_cpu_millis, max_memory_mb) VALUES ($1, $2, $3, $4)
       ON CONFLICT (project) DO UPDATE SET max_sandboxes = $2, max_cpu_millis = $3, max_memory_mb = $4,
         (used_sandboxes, used_cpu_millis, used_memory_mb) = (SELECT count(*)::integer,
           coalesce(sum(cpu_millis), 0)::integer, coalesce(sum(memory_mb), 0)::integer
           FROM placements WHERE project = $1)`,
      [project, quota.maxSandboxes, milli, quota.maxMemoryMb],
    );
  }

  /** The project's quota; every limit null when it has none. */
  async getQuota(project: string): Promise<ProjectQuota> {
    const { rows } = await this.pool.query<{ s: number | null; c: number | null; m: number | null }>(
      "SELECT max_sandboxes AS s, max_cpu_millis AS c, max_memory_mb AS m FROM project_quotas WHERE project = $1",
      [project],
    );
    const q = rows[0];
    return { maxSandboxes: q?.s ?? null, maxCpus: q?.c == null ? null : q.c / 1000, maxMemoryMb: q?.m ?? null };
  }

  /**
   * Chooses a node and records the sandbox's allocation there, or fails and records nothing. One
   * call of sbx_place (place-function.ts): one round trip, one transaction.
   */
  async place(req: PlacementRequest): Promise<Placement> {
    const cpuMillis = Math.round(req.cpus * 1000);
    if (!(cpuMillis > 0) || !Number.isInteger(req.memoryMb) || req.memoryMb <= 0)
      throw new SbxError("invalid_argument", "placement needs cpus > 0 and a whole, positive memoryMb");
    let rows: Array<{ node: string; cached: number; candidates: number }>;
    try {
      ({ rows } = await this.pool.query<{ node: string; cached: number; candidates: number }>(
        "SELECT node, cached, candidates FROM sbx_place($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        [
          req.sandboxId,
          req.project,
          req.name ?? null,
          cpuMillis,
          req.memoryMb,
          req.layers,
          JSON.stringify(req.selector),
          this.opts.k ?? 8,
          this.opts.owner ?? null,
        ],
      ));
    } catch (err) {
      throw placementError(err, req);
    }
    const won = rows[0];
    if (!won)
      throw new SbxError(
        "failed_precondition",
        `no ready node has room for ${req.cpus} cpus and ${req.memoryMb} MB` +
          (Object.keys(req.selector).length ? ` with labels ${JSON.stringify(req.selector)}` : ""),
      );
    return { node: won.node, cachedLayers: won.cached, candidates: won.candidates };
  }

  /** The node suspended the sandbox: its room there is freed, its placement kept (suspended-room.ts). */
  suspend(sandboxId: string): Promise<boolean> {
    return suspendPlacement(this.pool, sandboxId);
  }

  /** Before a resume on its node: its room there taken again, or failed_precondition (suspended-room.ts). */
  resume(sandboxId: string): Promise<boolean> {
    return resumePlacement(this.pool, sandboxId);
  }

  /** Frees a sandbox's allocation on its node; answers whether it had one. One statement, so atomic by itself. */
  async release(sandboxId: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `WITH gone AS (DELETE FROM placements WHERE sandbox_id = $1 RETURNING node, cpu_millis, memory_mb, suspended)
       UPDATE nodes SET alloc_cpu_millis = alloc_cpu_millis - ${HELD_CPU("gone")},
         alloc_memory_mb = alloc_memory_mb - ${HELD_MEM("gone")}, alloc_sandboxes = alloc_sandboxes - 1
       FROM gone WHERE nodes.name = gone.node`,
      [sandboxId],
    );
    return (rowCount ?? 0) > 0;
  }

  /**
   * Releases the provisional placement of a create that did not finish, and never fails: a release
   * that fails (PostgreSQL down or restarting) is retried in the background until it goes through.
   * Left in place, the row would hold its room on the node, and keep node-strays from destroying the
   * node's strays there, for as long as this replica lives: orphan-creates.ts sweeps only the rows of
   * replicas whose lease ran out.
   */
  async releaseProvisional(sandboxId: string): Promise<void> {
    try {
      await this.release(sandboxId);
    } catch {
      this.owed.add(sandboxId);
      this.retry ??= setInterval(() => void this.releaseOwed(), RELEASE_RETRY_MS).unref();
    }
  }

  /** Stops retrying (the replica is closing: its owed rows are swept once its lease runs out). */
  stop(): void {
    clearInterval(this.retry);
    this.retry = undefined;
  }

  private async releaseOwed(): Promise<void> {
    for (const id of [...this.owed]) {
      // Still failing: kept for the next round.
      if (
        await this.release(id).then(
          () => true,
          () => false,
        )
      )
        this.owed.delete(id);
    }
    if (this.owed.size === 0) this.stop();
  }
}

/** What the database said, as the caller's error: a quota passed, a name taken, an id placed twice. */
function placementError(err: unknown, req: PlacementRequest): unknown {
  const e = err as { code?: string; message?: string; detail?: string };
  if (e.code === "SBQ01")
    return new SbxError("failed_precondition", `project ${req.project} would exceed its quota of ${e.message}`, {
      project: req.project,
      used: JSON.parse(e.detail ?? "{}") as Record<string, number>,
    });
  const constraint = uniqueViolation(err);
  if (constraint === "placements_by_name")
    return new SbxError("already_exists", `a sandbox named ${req.name} already exists in project ${req.project}`);
  if (constraint !== undefined) return new SbxError("already_exists", `sandbox ${req.sandboxId} is already placed`);
  return err;
}
