// A sandbox's start: the command checked, its image (or snapshot) resolved, a warm blank claimed when
// one fits, the record and its network slot (and volumes) stored in one transaction, then the
// sandbox made on the runtime (or the blank reconfigured) and marked running, or terminated when
// that fails. A part of the sandbox lifecycle (sandbox-service.ts).
import { newId, SbxError } from "@sbx-sh/protocol";
import type { KeyedLock } from "../common/keyed-lock.js";
import type { CreateSandbox } from "../domain/commands.js";
import type { SandboxRecord } from "../domain/records.js";
import { specFor } from "../domain/sandbox-spec.js";
import { resolveEgress } from "./egress.js";
import { checkCreate, checkEgress, newSandboxRecord } from "./sandbox-launch.js";
import { SandboxSecrets } from "./sandbox-secrets.js";
import type { SandboxServiceDeps } from "./sandbox-service.js";
import type { StatusWriter } from "./sandbox-status.js";

/** What the lifecycle service lends a create: its deps, its per-sandbox lock, the status writer, its timers. */
export interface CreateCore extends SandboxServiceDeps {
  lock: KeyedLock;
  status: StatusWriter;
  /** Arms the sandbox's timeout. */
  arm(id: string, ms: number): void;
}

export async function createSandbox(c: CreateCore, project: string, cmd: CreateSandbox): Promise<SandboxRecord> {
  checkCreate(cmd);
  if (cmd.secrets) SandboxSecrets.check(cmd.secrets);
  const egress = await resolveEgress(cmd);
  checkEgress(cmd, egress);
  const image =
    cmd.snapshotId !== undefined
      ? await c.snapshots.resolve(project, cmd.snapshotId)
      : await c.images.resolve(project, cmd.image);
  if (cmd.volumes?.length && image.config.systemd)
    throw new SbxError(
      "invalid_argument",
      `image ${image.name} boots systemd with host ids: volumes need a sandbox with its own uid range`,
    );
  // A named sandbox's hostname is its name, which a blank from the pool cannot have; a blank has no volumes.
  const blank =
    cmd.name === undefined && cmd.snapshotId === undefined && !image.config.systemd && !cmd.volumes?.length
      ? await c.pool.claim(image.id, cmd.allowInternetAccess ?? true)
      : undefined;
  // A warm blank brings its id and slot; otherwise a slot is allocated with the insert, below.
  const record = newSandboxRecord(
    project,
    blank?.spec.id ?? newId("sb"),
    cmd,
    image,
    egress,
    blank?.spec.netSlot ?? null,
  );
  // The slot is allocated and taken in one transaction: no other create can be given it (the
  // store's unique index is the final guard).
  try {
    await c.store.transaction(async (tx) => {
      if (cmd.volumes?.length) {
        if (!c.volumes) throw new SbxError("unimplemented", "this daemon keeps no volumes");
        record.volumes = await c.volumes.mountsFor(tx, project, cmd);
      }
      if (record.allowInternetAccess && record.netSlot === null) record.netSlot = await c.slots.allocate(tx);
      await tx.insertSandbox(record);
    });
  } catch (err) {
    if (blank) await c.pool.discard(blank);
    throw err;
  }
  // The record holds a networked blank's slot now.
  if (blank?.spec.netSlot != null) c.slots.release(blank.spec.netSlot);
  const createdAt = performance.now();
  c.bus.publish({
    type: "sandbox.created",
    project,
    subject: record.id,
    sandboxId: record.id,
    attributes: { image: image.name, name: record.name, warm: blank !== undefined },
  });
  if (blank) c.bus.publish({ type: "pool.claimed", project, subject: record.id, sandboxId: record.id });
  const spec = specFor({ kind: "sandbox", sandbox: record, image });
  return c.lock.run(record.id, async () => {
    try {
      if (record.secretNames?.length) {
        if (!c.secrets) throw new SbxError("internal", "this daemon keeps no secrets");
        await c.secrets.put(record.id, cmd.secrets!);
      }
      const { ipAddress } = blank ? await c.runtime.reconfigure(blank.spec, spec) : await c.runtime.create(spec);
      await c.status.set(record, "running", { ipAddress, startedAt: new Date().toISOString() }, c.store, {
        startMs: Math.round((performance.now() - createdAt) * 1000) / 1000,
      });
    } catch (err) {
      if (blank) await c.runtime.destroy(record.id, record.netSlot).catch(() => undefined);
      await c.status.set(record, "terminated", {
        terminatedAt: new Date().toISOString(),
        terminationReason: "error",
        netSlot: null,
      });
      throw err;
    }
    c.arm(record.id, record.timeoutSecs * 1000);
    c.log.info({ sandbox: record.id, image: image.name, warm: blank !== undefined }, "sandbox started");
    return (await c.store.getSandbox(record.id))!;
  });
}
