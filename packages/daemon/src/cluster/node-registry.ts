// Nodes of the cluster as the control plane sees them. An operator adds a node by name and gets its
// credential once (only a SHA-256 of it is kept); the node registers with it, reporting capacity,
// usage and cached layers, and holds a lease it renews with every heartbeat. Leases run on the
// database's clock (now()), never a node's, so clock skew between hosts cannot expire a healthy
// lease. A lease that runs out makes the node `lost`: nothing is placed there, and its heartbeats
// are refused until it registers again (and reconciles).
import { createHash, randomBytes } from "node:crypto";
import type { Pool } from "pg";
import { SbxError } from "@sbx-sh/protocol";
import { uniqueViolation } from "../store/postgres-meta.js";
import { GivenUp } from "./given-up.js";
import { checkHolder, claimNode } from "./node-instance.js";
import { checkReport, proxyOnNodeHost, type NodeCapacity, type NodeReport } from "./node-report.js";
import { Strays } from "./node-strays.js";
import { HELD_CPU, HELD_MEM, reconcileSuspended } from "./suspended-room.js";

export type { NodeCapacity, NodeReport };

export type NodeState = "new" | "ready" | "cordoned" | "draining" | "lost" | "revoked";

/**
 * A node's lease, its key for control → node calls (node-key.ts) when the registry derives keys, and
 * the sandboxes it reported that the control plane gave up or does not know (it destroys them).
 */
export interface NodeLeaseGrant {
  name: string;
  leaseSecs: number;
  nodeKey?: string;
  destroy?: string[];
}

export interface NodeInfo {
  name: string;
  state: NodeState;
  labels: Record<string, string>;
  address: string | null;
  capacity: NodeCapacity;
  allocated: { cpus: number; memoryMb: number; sandboxes: number };
  usage: Partial<NodeReport["usage"]>;
  layers: number;
  /** Seconds left on the lease by the database's clock (negative: expired), null before registration. */
  leaseSecsLeft: number | null;
}

const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
const LABEL = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$/;

export const hashNodeToken = (token: string): string => createHash("sha256").update(token).digest("hex");

/** Node labels (and node selectors, which match them): keys and values [A-Za-z0-9._/-], up to 63. */
export function checkLabels(labels: Record<string, string>): void {
  for (const [k, v] of Object.entries(labels))
    if (!LABEL.test(k) || typeof v !== "string" || (v !== "" && !LABEL.test(v)))
      throw new SbxError(
        "invalid_argument",
        `node label ${JSON.stringify(k)}: keys and values are [A-Za-z0-9._/-], up to 63`,
      );
}

interface NodeRow {
  name: string;
  state: NodeState;
  labels: Record<string, string>;
  address: string | null;
  cpu_millis: number;
  memory_mb: number;
  disk_mb: number;
  alloc_cpu_millis: number;
  alloc_memory_mb: number;
  alloc_sandboxes: number;
  usage: NodeInfo["usage"];
  layer_count: number;
  lease_left: number | null;
}

export class NodeRegistry {
  private readonly givenUp: GivenUp;
  private readonly strays: Strays;

  constructor(
    private readonly pool: Pool,
    private readonly opts: {
      leaseSecs: number;
      /** Told which placements a node's report freed (for the log). */
      onFreed?: (node: string, sandboxIds: string[]) => void;
      /** The key of a node for control → node calls, handed to it with every lease (node-key.ts). */
      keyFor?: (name: string, salt: string) => string;
      /** Told which unknown sandboxes a node is told to destroy (node-strays.ts), for the log. */
      onStrays?: (node: string, sandboxIds: string[]) => void;
      /** The clock strays are aged by (ms, monotonic); tests pass their own. */
      now?: () => number;
    } = { leaseSecs: 15 },
  ) {
    this.givenUp = new GivenUp(pool);
    this.strays = new Strays(pool, opts.leaseSecs, opts.now);
  }

  /** Adds a node and answers its credential, which is shown this once and stored only as a hash. */
  async add(name: string, labels: Record<string, string> = {}): Promise<{ name: string; token: string }> {
    if (!NAME.test(name)) throw new SbxError("invalid_name", `node name ${JSON.stringify(name)}: [a-z0-9-], up to 63`);
    checkLabels(labels);
    const token = `sbxn_${randomBytes(32).toString("base64url")}`;
    try {
      // A fresh salt: a node added again under an old name gets a new key.
      await this.pool.query("INSERT INTO nodes (name, token_hash, labels, key_salt) VALUES ($1, $2, $3, $4)", [
        name,
        hashNodeToken(token),
        JSON.stringify(labels),
        randomBytes(16).toString("hex"),
      ]);
    } catch (err) {
      if (uniqueViolation(err) !== undefined) throw new SbxError("already_exists", `node ${name} already exists`);
      throw err;
    }
    return { name, token };
  }

  /** The node a credential belongs to; unauthenticated for an unknown or revoked one. */
  async authenticate(token: string): Promise<{ name: string; state: NodeState; salt: string }> {
    const { rows } = await this.pool.query<{ name: string; state: NodeState; salt: string }>(
      "SELECT name, state, key_salt AS salt FROM nodes WHERE token_hash = $1",
      [hashNodeToken(String(token))],
    );
    const node = rows[0];
    if (!node || node.state === "revoked") throw new SbxError("unauthenticated", "unknown or revoked node token");
    return node;
  }

  /** A node (re)joins: its report replaces the last one and a fresh lease starts; a lost node is ready again. */
  async register(token: string, report: NodeReport, instance?: string): Promise<NodeLeaseGrant> {
    checkReport(report);
    const { name, salt } = await this.authenticate(token);
    await claimNode(this.pool, name, instance, report.address);
    await this.pool.query(
      `UPDATE nodes SET address = $2, cpu_millis = $3, memory_mb = $4, disk_mb = $5, usage = $6, layers = $7,
         state = CASE WHEN state IN ('new', 'lost') THEN 'ready' ELSE state END,
         registered_at = now(), heartbeat_at = now(), lost_at = NULL,
         lease_expires_at = now() + make_interval(secs => $8), proxy_address = $9
       WHERE name = $1 AND state <> 'revoked'`,
      [
        name,
        report.address,
        Math.round(report.capacity.cpus * 1000),
        report.capacity.memoryMb,
        report.capacity.diskMb,
        JSON.stringify(report.usage),
        report.layers,
        this.opts.leaseSecs,
        proxyOnNodeHost(report),
      ],
    );
    await this.freeEnded(name, report.sandboxIds);
    await this.reconcileSuspended(name, report);
    return this.grant(name, salt, report);
  }

  /** Renews the lease with a fresh report; a lost node must register again (and reconcile) instead. */
  async heartbeat(token: string, report: NodeReport, instance?: string): Promise<NodeLeaseGrant> {
    checkReport(report);
    const { name, salt } = await this.authenticate(token);
    await checkHolder(this.pool, name, instance);
    const { rowCount } = await this.pool.query(
      `UPDATE nodes SET usage = $2, layers = $3, heartbeat_at = now(), lease_expires_at = now() + make_interval(secs => $4)
       WHERE name = $1 AND state IN ('ready', 'cordoned', 'draining') AND lease_expires_at >= now()`,
      [name, JSON.stringify(report.usage), report.layers, this.opts.leaseSecs],
    );
    if (rowCount === 0)
      throw new SbxError(
        "failed_precondition",
        `node ${name} has no live lease (lost or never registered): register again`,
      );
    await this.freeEnded(name, report.sandboxIds);
    await this.reconcileSuspended(name, report);
    return this.grant(name, salt, report);
  }

  /** The lease, with the node's key and what it must destroy: the sandboxes it reports that were given up, and strays. */
  private async grant(name: string, salt: string, report: NodeReport): Promise<NodeLeaseGrant> {
    const destroy = report.sandboxIds === undefined ? [] : await this.givenUp.toDestroy(name, report.sandboxIds);
    const strays = report.sandboxIds === undefined ? [] : await this.strays.toDestroy(name, report.sandboxIds);
    if (strays.length > 0) {
      this.opts.onStrays?.(name, strays);
      destroy.push(...strays);
    }
    const nodeKey = this.opts.keyFor?.(name, salt);
    return {
      name,
      leaseSecs: this.opts.leaseSecs,
      ...(nodeKey ? { nodeKey } : {}),
      ...(destroy.length > 0 ? { destroy } : {}),
    };
  }

  /**
   * Frees the room of sandboxes placed on `node` that its report no longer lists (they ended on
   * the node: their timeout, or gone). Placements younger than a lease are kept: a report made
   * just before a create finished must not free it; provisional ones (a create in flight) too, and
   * sandboxes being moved here (sandbox-moves.ts), which the node reports once the move is done.
   */
  private async freeEnded(node: string, live: string[] | undefined): Promise<void> {
    if (live === undefined) return;
    const { rows } = await this.pool.query<{ sandbox_id: string }>(
      `WITH gone AS (
         DELETE FROM placements WHERE node = $1 AND NOT (sandbox_id = ANY($2::text[]))
           AND sandbox_id NOT LIKE 'pending-%' AND placed_at < now() - make_interval(secs => $3)
           AND NOT EXISTS (SELECT 1 FROM sandbox_moves m WHERE m.sandbox_id = placements.sandbox_id)
         RETURNING sandbox_id, cpu_millis, memory_mb, suspended),
       freed AS (
         UPDATE nodes SET alloc_cpu_millis = alloc_cpu_millis - t.c, alloc_memory_mb = alloc_memory_mb - t.m,
           alloc_sandboxes = alloc_sandboxes - t.n
         FROM (SELECT coalesce(sum(${HELD_CPU("gone")}), 0)::integer AS c,
                 coalesce(sum(${HELD_MEM("gone")}), 0)::integer AS m,
                 count(*)::integer AS n FROM gone) t
         WHERE nodes.name = $1 AND t.n > 0)
       SELECT sandbox_id FROM gone`,
      [node, live, this.opts.leaseSecs],
    );
    if (rows.length > 0)
      this.opts.onFreed?.(
        node,
        rows.map((r) => r.sandbox_id),
      );
  }

  /** Suspended sandboxes hold no room on their node; resumed ones take it again (suspended-room.ts). */
  private async reconcileSuspended(node: string, r: NodeReport): Promise<void> {
    if (r.sandboxIds !== undefined && r.suspended !== undefined)
      await reconcileSuspended(this.pool, node, r.sandboxIds, r.suspended, this.opts.leaseSecs);
  }

  /** Marks every node whose lease ran out as lost; answers their names. Run by every control replica, often. */
  async expireLeases(): Promise<string[]> {
    const { rows } = await this.pool.query<{ name: string }>(
      `UPDATE nodes SET state = 'lost', lost_at = now()
       WHERE state IN ('ready', 'cordoned', 'draining') AND lease_expires_at < now() RETURNING name`,
    );
    return rows.map((r) => r.name).sort();
  }

  /** Cordon (no new placements), drain, back to ready, or revoke the credential. */
  async setState(name: string, state: "ready" | "cordoned" | "draining" | "revoked"): Promise<void> {
    const { rowCount } = await this.pool.query(
      // A lost or new node becomes ready only by registering; revoked is final.
      `UPDATE nodes SET state = $2 WHERE name = $1 AND state <> 'revoked'
         AND ($2 <> 'ready' OR state IN ('ready', 'cordoned', 'draining'))`,
      [name, state],
    );
    if (rowCount === 0) {
      const exists = await this.pool.query("SELECT 1 FROM nodes WHERE name = $1", [name]);
      if (exists.rowCount === 0) throw new SbxError("not_found", `no node named ${name}`);
      throw new SbxError("failed_precondition", `node ${name} cannot become ${state} from its current state`);
    }
  }

  async list(): Promise<NodeInfo[]> {
    const { rows } = await this.pool.query<NodeRow>(
      `SELECT name, state, labels, address, cpu_millis, memory_mb, disk_mb, alloc_cpu_millis, alloc_memory_mb,
         alloc_sandboxes, usage, cardinality(layers) AS layer_count,
         extract(epoch FROM lease_expires_at - now())::float8 AS lease_left
       FROM nodes ORDER BY name`,
    );
    return rows.map((r) => ({
      name: r.name,
      state: r.state,
      labels: r.labels,
      address: r.address,
      capacity: { cpus: r.cpu_millis / 1000, memoryMb: r.memory_mb, diskMb: r.disk_mb },
      allocated: { cpus: r.alloc_cpu_millis / 1000, memoryMb: r.alloc_memory_mb, sandboxes: r.alloc_sandboxes },
      usage: r.usage,
      layers: r.layer_count,
      leaseSecsLeft: r.lease_left,
    }));
  }
}
