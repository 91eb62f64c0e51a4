// A sandbox's resource use on the wire (`GET /v1/sandboxes/{id}/stats`, `GET /v1/stats`).

export interface SandboxUsage {
  sandboxId: string;
  name: string | null;
  image: string;
  /** When it was read. */
  time: string;
  /** CPU use in percent of one core since the previous reading (by any client), or since start. */
  cpuPercent: number;
  /** CPU time used so far, in microseconds. */
  cpuUsec: number;
  memoryBytes: number;
  memoryLimitBytes: number | null;
  pids: number;
  diskBytes: number;
  diskLimitBytes: number | null;
  netRxBytes: number;
  netTxBytes: number;
  startedAt: string | null;
}
