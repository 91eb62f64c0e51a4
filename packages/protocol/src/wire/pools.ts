// Sandbox pools on the wire (sbx pool create/ls/rm, Sandbox.create({ pool })): an image, resources
// and a timeout, with `warm` sandboxes kept running for claims and at most `max` claimed at once.

export interface CreatePoolRequest {
  /** Image name; default: the daemon's default image. */
  image?: string | undefined;
  cpus?: number | undefined;
  memoryMb?: number | undefined;
  diskMb?: number | undefined;
  timeoutSecs?: number | undefined;
  allowInternetAccess?: boolean | undefined;
  /** Sandboxes kept warm (0-16). */
  warm: number;
  /** Most sandboxes claimed at once; at least `warm`; null or absent: no limit. */
  max?: number | null | undefined;
}

export interface PoolInfo {
  id: string;
  project: string;
  image: string | null;
  cpus: number | null;
  memoryMb: number | null;
  diskMb: number | null;
  timeoutSecs: number | null;
  allowInternetAccess: boolean;
  warm: number;
  max: number | null;
  /** Warm sandboxes ready now (of the image the name points at now). */
  ready: number;
  claims: number;
  hits: number;
  misses: number;
  /** Median claim latency of the last 100 claims (ms), or null before the first. */
  claimP50Ms: number | null;
  createdAt: string | null;
}
