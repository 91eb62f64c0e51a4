// Sandbox and process records as the API describes them: what a client may see (no host paths,
// pids or network slots), with the defaults older records lack filled in.
import type { ProcessInfo, SandboxInfo } from "@sbx-sh/protocol";
import type { ProcessRecord, SandboxRecord } from "../../domain/records.js";

export function toSandbox(r: SandboxRecord): SandboxInfo {
  return {
    id: r.id,
    name: r.name,
    project: r.project,
    image: r.image,
    imageId: r.imageId,
    status: r.status,
    cpus: r.cpus,
    memoryMb: r.memoryMb,
    pidsLimit: r.pidsLimit,
    diskMb: r.diskMb,
    timeoutSecs: r.timeoutSecs,
    allowInternetAccess: r.allowInternetAccess,
    allowOut: r.allowOut ?? [],
    denyOut: r.denyOut ?? [],
    egressEntries: r.egressEntries ?? { allowOut: r.allowOut ?? [], denyOut: r.denyOut ?? [] },
    egressHosts: r.egressHosts ?? {},
    env: r.env,
    secrets: r.secretNames ?? [],
    volumes: (r.volumes ?? []).map((v) => ({ name: v.name, path: v.path, readOnly: v.readOnly })),
    ipAddress: r.ipAddress,
    snapshotId: r.snapshotId ?? null,
    createdAt: r.createdAt,
    startedAt: r.startedAt,
    terminatedAt: r.terminatedAt,
    terminationReason: r.terminationReason,
    labels: r.labels ?? {},
    expiresAt:
      r.status === "running" && r.timeoutSecs > 0
        ? new Date(Date.parse(r.startedAt ?? r.createdAt) + r.timeoutSecs * 1000).toISOString()
        : null,
  };
}

export function toProcess(p: ProcessRecord): ProcessInfo {
  return {
    id: p.id,
    sandboxId: p.sandboxId,
    command: p.command,
    args: p.args,
    status: p.status,
    exitCode: p.exitCode,
    signal: p.signal,
    timedOut: p.timedOut,
    stdin: p.stdin,
    startedAt: p.startedAt,
    endedAt: p.endedAt,
  };
}
