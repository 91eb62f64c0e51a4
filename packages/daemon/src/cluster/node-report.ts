// What a node says about itself at registration and in every heartbeat (node-registry.ts keeps it):
// its address, capacity, usage, cached layers, the sandboxes it runs and has suspended, and its port
// proxy. A report is a node's word, so it is checked before anything is stored, and the proxy
// address is kept only on the node's own host.
import { SbxError } from "@sbx-sh/protocol";

export interface NodeCapacity {
  cpus: number;
  memoryMb: number;
  diskMb: number;
}

/** What a node says about itself at registration and in every heartbeat. */
export interface NodeReport {
  /** Where the control plane reaches the node's API (host:port). */
  address: string;
  capacity: NodeCapacity;
  usage: NodeCapacity & { sandboxes: number };
  /** Digests of the layers in the node's cache. */
  layers: string[];
  /** Ids of the node's sandboxes that have not ended (absent: the control plane frees nothing). */
  sandboxIds?: string[];
  /** Ids of its suspended sandboxes (sandbox-mover.ts records those the control plane did not suspend). */
  suspended?: string[];
  /** host:port of the node's port proxy (--proxy-listen), where the control plane relays exposed ports. */
  proxyAddress?: string;
}

export function checkReport(r: NodeReport): void {
  const c = r.capacity;
  const whole = (n: unknown): boolean => typeof n === "number" && Number.isFinite(n) && n >= 0 && n < 2 ** 31;
  if (!whole(c.cpus * 1000) || !whole(c.memoryMb) || !whole(c.diskMb) || c.cpus <= 0 || c.memoryMb <= 0)
    throw new SbxError(
      "invalid_argument",
      "node capacity: cpus and memoryMb must be positive numbers, diskMb at least 0",
    );
  if (typeof r.address !== "string" || r.address.length === 0 || r.address.length > 255)
    throw new SbxError("invalid_argument", "node address: host:port, up to 255 characters");
  if (!Array.isArray(r.layers) || r.layers.some((l) => typeof l !== "string" || !/^sha256:[0-9a-f]{64}$/.test(l)))
    throw new SbxError("invalid_argument", "node layers: a list of sha256:<64 hex> digests");
  if (r.sandboxIds !== undefined && (!Array.isArray(r.sandboxIds) || r.sandboxIds.some((i) => typeof i !== "string")))
    throw new SbxError("invalid_argument", "node sandboxIds: a list of sandbox ids");
  if (r.suspended !== undefined && (!Array.isArray(r.suspended) || r.suspended.some((i) => typeof i !== "string")))
    throw new SbxError("invalid_argument", "node suspended: a list of sandbox ids");
  if (
    r.proxyAddress !== undefined &&
    (typeof r.proxyAddress !== "string" || !/^[^\s/]{1,250}:\d{1,5}$/.test(r.proxyAddress))
  )
    throw new SbxError("invalid_argument", "node proxyAddress: host:port, up to 255 characters");
}

/**
 * The node's port proxy, kept only on the host of the node's own address: the control plane's public
 * port relay sends anyone's requests there, never to an address a (compromised) node picks, such as a
 * metadata service or the control host. Another host gives no relay for that node (null).
 */
export function proxyOnNodeHost(r: NodeReport): string | null {
  const hostOf = (hostPort: string): string => hostPort.replace(/:\d+$/, "").toLowerCase();
  return r.proxyAddress !== undefined && hostOf(r.proxyAddress) === hostOf(r.address) ? r.proxyAddress : null;
}
