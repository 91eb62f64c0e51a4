// `copy -n N`: one snapshot of a running sandbox and N new sandboxes started from it together,
// with the source's limits, network, env and secrets. All or nothing: if one fails, the others go.
// The snapshot is only the means: it is deleted afterwards unless the caller keeps it (the copies
// stand on its layers, which garbage collection keeps while they live).
import { SbxError } from "@sbx-sh/protocol";
import type { SandboxRecord } from "../domain/records.js";
import type { SandboxService } from "./sandbox-service.js";

export async function forkSandbox(
  sandboxes: Pick<SandboxService, "getRunning" | "snapshot" | "create" | "terminate" | "secretsOf">,
  project: string,
  sandbox: string,
  times: number,
  opts: { keepSnapshot?: boolean; removeSnapshot: (project: string, id: string) => Promise<unknown> },
): Promise<SandboxRecord[]> {
  if (!Number.isInteger(times) || times < 1 || times > 50)
    throw new SbxError("out_of_range", "times must be a whole number from 1 to 50");
  const src = await sandboxes.getRunning(project, sandbox);
  // A snapshot holds no volume: the copies mount the source's read-only volumes again, and a
  // read-write one cannot be shared (one writer at a time), so such a fork is refused up front.
  const rw = (src.volumes ?? []).find((v) => !v.readOnly);
  if (rw)
    throw new SbxError(
      "volume_in_use",
      `sandbox ${src.name ?? src.id} mounts volume ${rw.name} read-write, which its copies cannot share: snapshot it (\`sbx snapshot\`) and create sandboxes from the snapshot with their own --volume`,
      { volume: rw.name },
    );
  const secrets = await sandboxes.secretsOf(src);
  const snap = await sandboxes.snapshot(project, sandbox, { forFork: !opts.keepSnapshot });
  const made = await Promise.allSettled(
    Array.from({ length: times }, () =>
      sandboxes.create(project, {
        snapshotId: snap.id,
        cpus: src.cpus,
        memoryMb: src.memoryMb,
        pidsLimit: src.pidsLimit,
        diskMb: src.diskMb,
        timeoutSecs: src.timeoutSecs,
        allowInternetAccess: src.allowInternetAccess,
        allowOut: src.egressEntries?.allowOut ?? src.allowOut,
        denyOut: src.egressEntries?.denyOut ?? src.denyOut,
        env: src.env,
        ...(src.volumes?.length
          ? { volumes: src.volumes.map((v) => ({ name: v.name, path: v.path, readOnly: true })) }
          : {}),
        ...(Object.keys(secrets).length ? { secrets } : {}),
      }),
    ),
  );
  if (!opts.keepSnapshot) await opts.removeSnapshot(project, snap.id).catch(() => undefined);
  const failed = made.find((r) => r.status === "rejected");
  if (failed) {
    for (const r of made)
      if (r.status === "fulfilled") await sandboxes.terminate(project, r.value.id).catch(() => undefined);
    throw failed.reason;
  }
  return made.map((r) => (r as PromiseFulfilledResult<SandboxRecord>).value);
}
