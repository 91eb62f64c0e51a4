// Where each sandbox of the cluster runs, as the control plane routes calls: the placements table
// (written by the placer) joined with the nodes' addresses, states and leases. A sandbox on a node
// that is lost, or whose lease ran out by the database's clock, is answered with node_unavailable
// at once and a reason, never a hang; it comes back when its node registers again.
import type { Pool } from "pg";
import { SbxError } from "@sbx-sh/protocol";
import { GivenUp } from "./given-up.js";
import type { RouteCache } from "./route-cache.js";

/** The node that runs a sandbox, and whether it can be reached now. */
export interface SandboxLocation {
  sandboxId: string;
  name: string | null;
  node: string;
  /** host:port of the node's API. */
  address: string | null;
  /** Why the node cannot take calls now, or null. */
  unavailable: string | null;
  /** What the node's key is derived with (node-key.ts). */
  keySalt: string;
  /** host:port of the node's port proxy, if it runs one. */
  proxyAddress: string | null;
}

interface LocationRow {
  sandbox_id: string;
  name: string | null;
  node: string;
  address: string | null;
  state: string;
  lease_left: number | null;
  key_salt: string;
  proxy_address: string | null;
  move_state: string | null;
  move_from: string | null;
  move_to: string | null;
}

function toLocation(r: LocationRow): SandboxLocation {
  const live = r.state !== "lost" && r.state !== "revoked" && r.lease_left !== null && r.lease_left > 0;
  // A move in flight (sandbox-moves.ts): no call reaches either copy until it is done or undone.
  const moving = r.move_state !== null && r.move_state !== "suspended";
  const unavailable = moving
    ? `it is being moved from node ${r.move_from}${r.move_to ? ` to ${r.move_to}` : ""}: try again in a moment ` +
      `(an interrupted move finishes when \`sbx node drain ${r.move_from}\` or \`sbx resume ${r.name ?? r.sandbox_id}\` runs again)`
    : live
      ? null
      : r.state === "revoked"
        ? `its node ${r.node} was revoked`
        : `its node ${r.node} is lost (no heartbeat for ${Math.max(0, Math.round(-(r.lease_left ?? 0)))} s past its lease): ` +
          (r.move_state === "suspended"
            ? `it is suspended: \`sbx resume ${r.name ?? r.sandbox_id}\` starts it on another node`
            : "it is unavailable until the node comes back");
  return {
    sandboxId: r.sandbox_id,
    name: r.name,
    node: r.node,
    address: r.address,
    unavailable,
    keySalt: r.key_salt,
    proxyAddress: r.proxy_address,
  };
}

const SELECT = `SELECT p.sandbox_id, p.name, p.node, n.address, n.state, n.key_salt, n.proxy_address,
    extract(epoch FROM n.lease_expires_at - now())::float8 AS lease_left,
    m.state AS move_state, m.from_node AS move_from, m.to_node AS move_to
  FROM placements p JOIN nodes n ON n.name = p.node LEFT JOIN sandbox_moves m ON m.sandbox_id = p.sandbox_id`;

/** How long before its node's lease runs out (by the lease left at the lookup) a remembered location is dropped. */
const LEASE_MARGIN_MS = 500;

export class SandboxDirectory {
  /** `cache`: this replica's memory of locations (route-cache.ts), kept right by PostgreSQL's notifications. */
  constructor(
    private readonly pool: Pool,
    private readonly cache?: RouteCache,
  ) {}

  /** The sandbox `idOrName` of `project`; sandbox_not_found when the cluster placed none such. */
  async locate(project: string, idOrName: string): Promise<SandboxLocation> {
    const load = async (): Promise<{ at: SandboxLocation; leaseLeft: number } | undefined> => {
      const { rows } = await this.pool.query<LocationRow>(
        `${SELECT} WHERE p.project = $1 AND (p.sandbox_id = $2 OR p.name = $2) ORDER BY p.sandbox_id = $2 DESC LIMIT 1`,
        [project, idOrName],
      );
      return rows[0] ? { at: toLocation(rows[0]), leaseLeft: rows[0].lease_left ?? 0 } : undefined;
    };
    // Only a location that can take calls is remembered, and never past its node's lease.
    const found = this.cache
      ? await this.cache.get(`s\0${project}\0${idOrName}`, load, ({ at, leaseLeft }) =>
          at.unavailable
            ? null
            : { ms: leaseLeft * 1000 - LEASE_MARGIN_MS, tags: [`s:${at.sandboxId}`, `n:${at.node}`] },
        )
      : await load();
    if (!found) {
      await new GivenUp(this.pool).explain(project, idOrName);
      throw new SbxError("sandbox_not_found", `no sandbox ${idOrName} in project ${project}`);
    }
    return found.at;
  }

  /** Forgets where the sandbox runs (it ended, or a call to its node failed): the next call asks PostgreSQL. */
  forget(sandboxId: string): void {
    this.cache?.forget(`s:${sandboxId}`);
  }

  /**
   * What a call forwarded to the sandbox's node came to: its answer's status, or `failed` (the
   * node could not be reached, or was lost mid-call). A failure or a 404 means the node may be gone
   * or the sandbox moved: where it runs is forgotten, and the next call asks PostgreSQL.
   */
  answered(sandboxId: string, outcome: number | "failed"): void {
    if (outcome === "failed" || outcome === 404) this.forget(sandboxId);
  }

  /** The sandbox with this id in any project (the port relay knows only the id), or null. */
  async locateId(sandboxId: string): Promise<SandboxLocation | null> {
    const { rows } = await this.pool.query<LocationRow>(`${SELECT} WHERE p.sandbox_id = $1`, [sandboxId]);
    return rows[0] ? toLocation(rows[0]) : null;
  }

  /** Every sandbox of the project, by node. */
  async ofProject(project: string): Promise<SandboxLocation[]> {
    const { rows } = await this.pool.query<LocationRow>(`${SELECT} WHERE p.project = $1 ORDER BY p.placed_at`, [
      project,
    ]);
    return rows.map(toLocation);
  }

  /**
   * The node answered the create: the placement made under a provisional id takes the sandbox's own.
   * False: there was none left to confirm (swept because this replica's lease ran out mid-create,
   * orphan-creates.ts), so the node's sandbox is a stray.
   */
  async confirm(provisionalId: string, sandboxId: string, info?: unknown): Promise<boolean> {
    // placed_at restarts: a node's report older than the create must not free it (node-registry.ts).
    // The node's answer is kept to answer a terminate while the node is lost (given-up.ts).
    const { rowCount } = await this.pool.query(
      "UPDATE placements SET sandbox_id = $2, placed_at = now(), info = $3 WHERE sandbox_id = $1",
      [provisionalId, sandboxId, info === undefined ? null : JSON.stringify(info)],
    );
    return (rowCount ?? 0) > 0;
  }

  /** Where the control plane reaches a node (for calls that are not a sandbox's). */
  async address(node: string): Promise<string | null> {
    const { rows } = await this.pool.query<{ address: string | null }>("SELECT address FROM nodes WHERE name = $1", [
      node,
    ]);
    return rows[0]?.address ?? null;
  }
}
