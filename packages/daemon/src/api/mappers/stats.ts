// A sandbox's resource use → the wire's SandboxUsage.
import type { SandboxUsage } from "@sbx-sh/protocol";
import type { Usage } from "../../services/stats-service.js";

export function toUsage(u: Usage): SandboxUsage {
  return {
    sandboxId: u.sandbox.id,
    name: u.sandbox.name,
    image: u.sandbox.image,
    time: u.time.toISOString(),
    cpuPercent: u.cpuPercent,
    cpuUsec: u.cpuUsec,
    memoryBytes: u.memoryBytes,
    memoryLimitBytes: u.memoryLimitBytes,
    pids: u.pids,
    diskBytes: u.diskBytes,
    diskLimitBytes: u.diskLimitBytes,
    netRxBytes: u.netRxBytes,
    netTxBytes: u.netTxBytes,
    startedAt: u.sandbox.startedAt,
  };
}
