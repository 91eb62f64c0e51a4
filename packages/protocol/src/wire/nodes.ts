// Cluster nodes on the wire: what `sbx node ls` shows and what `sbx node add` answers, and what a
// node daemon reports to the control plane when it registers and on every heartbeat.

export type NodeState = "new" | "ready" | "cordoned" | "draining" | "lost" | "revoked";

export interface NodeResources {
  cpus: number;
  memoryMb: number;
  diskMb: number;
}

export interface ClusterNode {
  name: string;
  state: NodeState;
  labels: Record<string, string>;
  /** Where the control plane reaches the node (host:port), null before it registered. */
  address: string | null;
  capacity: NodeResources;
  /** What placements have reserved on the node. */
  allocated: { cpus: number; memoryMb: number; sandboxes: number };
  /** Cached layers the node reported. */
  layers: number;
  /** Seconds left on the lease by the database's clock (negative: expired), null before registration. */
  leaseSecsLeft: number | null;
}

export interface AddNodeRequest {
  name: string;
  labels?: Record<string, string> | undefined;
}

export interface NodeCredential {
  name: string;
  /** The node's secret (SBX_NODE_TOKEN of its daemon): only in this answer, stored only as a hash. */
  token: string;
}

/** What an operator sets: cordoned and draining take no new sandboxes; revoked refuses the credential for good. */
export interface SetNodeStateRequest {
  state: "ready" | "cordoned" | "draining" | "revoked";
}

/** A node daemon's report (Authorization: Bearer <node token>). */
export interface NodeReport {
  address: string;
  capacity: NodeResources;
  usage: NodeResources & { sandboxes: number };
  /** Digests (sha256:<hex>) of the layers in the node's cache. */
  layers: string[];
  /**
   * Ids of the node's sandboxes that have not ended: the control plane frees the room of the
   * others it placed there (ended by their timeout, or gone). Absent: nothing is freed.
   */
  sandboxIds?: string[];
  /** Ids of the node's suspended sandboxes: the control plane records the suspend snapshots it lacks. */
  suspended?: string[];
  /** host:port of the node's port proxy: the control plane relays `<port>-<id>.<domain>` requests there. */
  proxyAddress?: string;
}

/** A project's limits on a cluster, enforced when a sandbox is placed; null: no limit. */
export interface ProjectQuota {
  maxSandboxes: number | null;
  maxCpus: number | null;
  maxMemoryMb: number | null;
}

export interface NodeLease {
  name: string;
  leaseSecs: number;
  /** Sandboxes the node reported that the control plane gave up (their node was lost): destroy them. */
  destroy?: string[];
  /**
   * The node's own key for control → node calls (HMAC of the cluster secret, the node's name and a
   * salt): the node's TCP API accepts only this bearer. Held in memory, never logged.
   */
  nodeKey?: string;
}

/**
 * What became of one sandbox of a drained node (`POST /v1/nodes/{name}/drain`, one NDJSON line each):
 * `moving` when its move starts, then `moved` (suspended there, resumed on `to` with the same id and
 * name), `failed` (it stays where it was, running; `error` says why), `suspended` (it was suspended:
 * `sbx resume` starts it on another node) or `stays` (unnamed: it stays until it ends).
 */
export interface DrainOutcome {
  sandbox: string;
  name: string | null;
  project: string;
  outcome: "moving" | "moved" | "failed" | "suspended" | "stays";
  from: string;
  to?: string | undefined;
  reason?: string | undefined;
  error?: { code: string; message: string } | undefined;
}

/** The end of a drain: counts by outcome, and every sandbox's last outcome. */
export interface DrainSummary {
  node: string;
  moved: number;
  failed: number;
  suspended: number;
  stays: number;
  sandboxes: DrainOutcome[];
}
