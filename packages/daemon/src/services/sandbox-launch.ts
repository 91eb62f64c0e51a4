// The checks and the record of a sandbox about to be created: what the command asks for, the
// defaults of domain/limits.ts for what it leaves out, and the run config of the image (or
// snapshot) it starts from. Pure: nothing is stored or started here.
import { assertValidLabels, assertValidName, SbxError } from "@sbx-sh/protocol";
import type { CreateSandbox } from "../domain/commands.js";
import { isOpenPolicy } from "../domain/egress-policy.js";
import { LIMITS } from "../domain/limits.js";
import type { SandboxRecord } from "../domain/records.js";
import type { ResolvedEgress } from "./egress.js";
import type { ResolvedImage } from "./images.js";

/** Refuses a command that cannot make a sandbox, before anything is resolved or reserved. */
export function checkCreate(cmd: CreateSandbox): void {
  if (cmd.name !== undefined) assertValidName("sandbox", cmd.name);
  if (cmd.labels !== undefined) assertValidLabels(cmd.labels);
  if (cmd.snapshotId !== undefined && cmd.image !== undefined)
    throw new SbxError("invalid_argument", "give either image or snapshotId, not both");
  if (cmd.entrypoint !== undefined && cmd.noEntrypoint)
    throw new SbxError("invalid_argument", "give either entrypoint or noEntrypoint, not both");
}

/** What a new sandbox starts: the request's program, else the image's ENTRYPOINT followed by its CMD (as Docker). */
export function programOf(cmd: CreateSandbox, image: ResolvedImage): string[] | null {
  if (cmd.noEntrypoint) return null;
  if (cmd.entrypoint) return cmd.entrypoint;
  const argv = [...(image.config.entrypoint ?? []), ...(image.config.cmd ?? [])];
  return argv.length ? argv : null;
}

/** Egress lists need a network to apply to. */
export function checkEgress(cmd: CreateSandbox, egress: ResolvedEgress): void {
  if (cmd.allowInternetAccess === false && !isOpenPolicy(egress.policy)) {
    throw new SbxError(
      "invalid_argument",
      "allowOut/denyOut need network access: a sandbox with allowInternetAccess false has no network at all",
    );
  }
}

/** The pending record of a new sandbox; `netSlot` is a warm blank's, or null until one is allocated. */
export function newSandboxRecord(
  project: string,
  id: string,
  cmd: CreateSandbox,
  image: ResolvedImage,
  egress: ResolvedEgress,
  netSlot: number | null,
): SandboxRecord {
  const allowInternetAccess = cmd.allowInternetAccess ?? true;
  return {
    id,
    project,
    name: cmd.name ?? null,
    image: image.name,
    imageId: image.id,
    status: "pending",
    cpus: cmd.cpus ?? LIMITS.cpus.default,
    memoryMb: cmd.memoryMb ?? LIMITS.memoryMb.default,
    pidsLimit: cmd.pidsLimit ?? LIMITS.pids.default,
    diskMb: cmd.diskMb ?? LIMITS.diskMb.default,
    timeoutSecs: cmd.timeoutSecs ?? LIMITS.timeoutSecs.default,
    allowInternetAccess,
    allowOut: egress.policy.allowOut,
    denyOut: egress.policy.denyOut,
    egressEntries: egress.entries,
    egressHosts: egress.hosts,
    env: cmd.env ?? {},
    labels: cmd.labels ?? {},
    secretNames: Object.keys(cmd.secrets ?? {}),
    config: {
      env: image.config.env,
      workingDir: image.config.workingDir || "/",
      user: image.config.user || "0:0",
      systemd: image.config.systemd,
      entrypoint: programOf(cmd, image),
    },
    netSlot: allowInternetAccess ? netSlot : null,
    ipAddress: null,
    lowers: image.lowers,
    source: { layers: image.layers, baseDir: image.baseDir, baseImage: image.baseImage },
    snapshotId: cmd.snapshotId ?? null,
    createdAt: new Date().toISOString(),
    startedAt: null,
    terminatedAt: null,
    terminationReason: null,
  };
}
