// The bounds and defaults of what a sandbox may ask for (CPU, memory, pids, disk, lifetime) and of
// a terminal window. Domain policy: the API's schemas validate against these numbers, and the
// services fill in the defaults; neither owns them.

export const LIMITS = {
  cpus: { min: 0.1, max: 64, default: 1 },
  memoryMb: { min: 16, max: 65536, default: 1024 },
  pids: { min: 16, max: 32768, default: 1024 },
  diskMb: { min: 16, max: 1048576, default: 4096 },
  timeoutSecs: { min: 0, max: 7 * 24 * 3600, default: 600 },
} as const;

/**
 * Exposed ports one sandbox may have at once. Each is a stored row with its own token; unbounded, one
 * request naming thousands (a Tensorlake update) held the daemon for seconds.
 */
export const MAX_EXPOSED_PORTS = 64;

/** A window larger than this is a mistake, not a screen. */
export const TERMINAL_SIZE = { min: 1, max: 1000 } as const;

/** The resources a sandbox's cgroup is given. */
export interface ResourceLimits {
  cpus: number;
  memoryMb: number;
  pidsLimit: number;
  diskMb: number;
}

/** A sandbox's resources when its creator names none. */
export const DEFAULT_RESOURCES: ResourceLimits = {
  cpus: LIMITS.cpus.default,
  memoryMb: LIMITS.memoryMb.default,
  pidsLimit: LIMITS.pids.default,
  diskMb: LIMITS.diskMb.default,
};
