// sbx records in the Tensorlake SDK's wire shapes (snake_case, nested `resources`, integer pids).
// The SDK's Rust core deserialises every answer into strict structs: the fields it requires
// (`namespace`, `resources.cpus`, `resources.memory_mb`, an integer `pid`, ...) must be present.
import { createHash } from "node:crypto";
import { constants } from "node:os";
import type { PortExposureRecord, ProcessRecord, SandboxRecord, SnapshotRecord } from "../../domain/records.js";

/**
 * The integer pid the SDK sees for an sbx process: 31 bits of a hash of its stored id, so it is the
 * same after a daemon restart without a second store of aliases. Looked up by hashing the
 * sandbox's processes (pids are per sandbox, where a collision is 1 in ~2^31 per pair).
 */
export function tlPid(procId: string): number {
  const n = createHash("sha256").update(procId).digest().readUInt32BE(0) & 0x7fffffff;
  return n === 0 ? 1 : n;
}

export function signalNumber(name: string | null): number | null {
  if (!name) return null;
  return (constants.signals as Record<string, number>)[name] ?? null;
}

export function signalName(n: number): string | undefined {
  return Object.entries(constants.signals).find(([, v]) => v === n)?.[0];
}

const seconds = (iso: string | null): number | null => (iso ? Date.parse(iso) / 1000 : null);

/** What the create, copy and claim answers carry (the SDK then talks to `sandbox_url`). */
export function toTlCreated(r: SandboxRecord, sandboxUrl: string) {
  return { sandbox_id: r.id, status: r.status, name: r.name, sandbox_url: sandboxUrl };
}

export function toTlSandbox(r: SandboxRecord, sandboxUrl: string, ports: PortExposureRecord[] = []) {
  return {
    sandbox_id: r.id,
    namespace: r.project,
    status: r.status,
    name: r.name,
    image: r.image,
    resources: { cpus: r.cpus, memory_mb: r.memoryMb, ephemeral_disk_mb: r.diskMb },
    timeout_secs: r.timeoutSecs,
    network: {
      allow_internet_access: r.allowInternetAccess,
      allow_out: r.egressEntries?.allowOut ?? r.allowOut ?? [],
      deny_out: r.egressEntries?.denyOut ?? r.denyOut ?? [],
    },
    created_at: r.createdAt,
    terminated_at: r.terminatedAt,
    termination_reason: r.terminationReason,
    allow_unauthenticated_access: ports.length > 0 && ports.every((p) => p.public),
    exposed_ports: ports.map((p) => p.port),
    sandbox_url: sandboxUrl,
    file_systems: [],
  };
}

export function toTlArchived(r: SandboxRecord, sandboxUrl: string) {
  return { ...toTlSandbox(r, sandboxUrl), archived_at: Date.parse(r.terminatedAt ?? r.createdAt) };
}

export function toTlProcess(p: ProcessRecord) {
  const signal = signalNumber(p.signal);
  return {
    pid: tlPid(p.id),
    status: p.status === "running" ? "running" : signal !== null ? "signaled" : "exited",
    exit_code: p.exitCode,
    signal,
    oom_killed: false,
    stdin_writable: p.stdin && p.status === "running",
    command: p.command,
    args: p.args,
    started_at: seconds(p.startedAt),
    ended_at: seconds(p.endedAt),
  };
}

export function toTlSnapshot(s: SnapshotRecord) {
  return {
    snapshot_id: s.id,
    namespace: s.project,
    sandbox_id: s.sourceSandboxId,
    base_image: s.sourceImage,
    snapshot_type: s.type,
    status: s.status,
    error: s.error,
    size_bytes: s.sizeBytes,
    created_at: s.createdAt,
  };
}
