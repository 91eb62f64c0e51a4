// One daemon per node credential. A node daemon draws an instance id when it starts and sends it with
// every registration and heartbeat (a header, so an older control plane ignores it). Two daemons
// holding one credential (a replacement started before the old node was stopped, a token copied to a
// second host) would otherwise take turns at the node's address, and the one whose report lists no
// sandboxes would free the other's placements for good (node-registry.ts freeEnded): its sandboxes
// vanish from the control plane and are never destroyed. So while a node's lease is live, a
// registration from another instance at another address is refused, and a heartbeat from an
// instance that is not the registered one is refused: the first daemon keeps the node. A restart on
// the same host (same address) takes over at once; one on another host once the old lease runs out.
import { randomBytes } from "node:crypto";
import type { Pool } from "pg";
import { SbxError } from "@sbx-sh/protocol";

export const NODE_INSTANCE_HEADER = "x-sbx-node-instance";

/** A fresh instance id for a starting node daemon. */
export const newNodeInstance = (): string => randomBytes(12).toString("base64url");

/** A header value kept only when it looks like an instance id (anything else counts as none: an older node). */
export function instanceOf(header: string | undefined): string | undefined {
  return header !== undefined && /^[A-Za-z0-9_-]{8,64}$/.test(header) ? header : undefined;
}

interface Holder {
  instance: string | null;
  address: string | null;
  live: boolean;
  lease_left: number | null;
}

async function holder(pool: Pool, name: string): Promise<Holder | undefined> {
  const { rows } = await pool.query<Holder>(
    `SELECT instance, address, state IN ('ready', 'cordoned', 'draining') AND lease_expires_at >= now() AS live,
       extract(epoch FROM lease_expires_at - now())::float8 AS lease_left
     FROM nodes WHERE name = $1`,
    [name],
  );
  return rows[0];
}

/**
 * Records `instance` as the daemon holding `name`, unless another instance at another address holds
 * its live lease (already_exists, saying where). No instance (an older node daemon): nothing checked.
 */
export async function claimNode(pool: Pool, name: string, instance: string | undefined, address: string) {
  if (instance === undefined) return;
  const { rowCount } = await pool.query(
    `UPDATE nodes SET instance = $2 WHERE name = $1 AND (instance IS NULL OR instance = $2 OR address = $3
       OR state NOT IN ('ready', 'cordoned', 'draining') OR lease_expires_at < now())`,
    [name, instance, address],
  );
  if (rowCount !== 0) return;
  const h = await holder(pool, name);
  throw new SbxError(
    "already_exists",
    `node ${name} is held by another daemon at ${h?.address ?? "?"} (its lease runs ${Math.max(0, Math.ceil(h?.lease_left ?? 0))} s more): ` +
      "two daemons hold this node's credential; stop one (this one registers once that lease runs out)",
  );
}

/** A heartbeat from an instance that is not the one registered for `name` is refused (already_exists). */
export async function checkHolder(pool: Pool, name: string, instance: string | undefined): Promise<void> {
  if (instance === undefined) return;
  const h = await holder(pool, name);
  if (h?.instance == null || h.instance === instance) return;
  throw new SbxError(
    "already_exists",
    `node ${name} was registered by another daemon at ${h.address ?? "?"}: two daemons hold this node's credential; ` +
      "this one no longer serves as the node",
  );
}
