// The sandbox lifecycle: create, get and list, terminate, timeouts, snapshot and fork, suspend and
// resume, and the reconcile pass at daemon start. The only writer of `status`: every change goes
// through setStatus(), checked against domain/sandbox-state.ts. What others hold per sandbox they
// let go of on the events this service emits (sandbox-events.ts).
import { newId, SbxError } from "@sbx-sh/protocol";
import { KeyedLock } from "../common/keyed-lock.js";
import type { Logger } from "../common/log.js";
import type { CreateSandbox, UpdateEgress } from "../domain/commands.js";
import type { EgressHosts } from "../domain/egress-policy.js";
import type { SandboxRecord, SnapshotRecord } from "../domain/records.js";
import { specFor } from "../domain/sandbox-spec.js";
import { assertTransition, type SandboxStatus } from "../domain/sandbox-state.js";
import type { SandboxRuntime } from "../runtime/runtime.js";
import type { MetaOps, Store } from "../store/store.js";
import { resolveEgress } from "./egress.js";
import type { ImageService } from "./images.js";
import type { EventBus } from "./event-bus.js";
import type { NetSlots } from "./net-slots.js";
import { SandboxEgress } from "./sandbox-egress.js";
import type { SandboxEvents } from "./sandbox-events.js";
import { forkSandbox } from "./sandbox-fork.js";
import { SandboxSecrets } from "./sandbox-secrets.js";
import { checkCreate, checkEgress, newSandboxRecord } from "./sandbox-launch.js";
import { reconcileSandboxes } from "./sandbox-reconcile.js";
import { SandboxSuspension, type StatusPatch } from "./sandbox-suspend.js";
import { SandboxTimers } from "./sandbox-timers.js";
import type { SnapshotService } from "./snapshot-service.js";
import type { WarmPool } from "./warm-pool.js";
import type { VolumeService } from "./volume-service.js";

export interface SandboxServiceDeps {
  store: Store;
  runtime: SandboxRuntime;
  images: ImageService;
  /** Snapshots to start from (create, resume) and to take (snapshot, suspend). */
  snapshots: SnapshotService;
  /** Blank sandboxes that make a create fast; taken only for unnamed sandboxes of non-systemd images. */
  pool: WarmPool;
  slots: NetSlots;
  events: SandboxEvents;
  /** The daemon's event stream: every status change is published on it. */
  bus: EventBus;
  log: Logger;
  /** Where secrets given at create are kept (not in the store). */
  secrets?: SandboxSecrets;
  /** Volumes to mount at create (checked and claimed in the create's transaction). */
  volumes?: VolumeService;
}

export class SandboxService {
  private readonly lock = new KeyedLock();
  private readonly store: Store;
  private readonly runtime: SandboxRuntime;
  private readonly log: Logger;
  private readonly timers: SandboxTimers;
  private readonly egress: SandboxEgress;
  private readonly suspension: SandboxSuspension;
  /** Sandboxes on their way from suspended to running: their `running` is published as `resumed`. */
  private readonly resuming = new Set<string>();

  constructor(private readonly deps: SandboxServiceDeps) {
    ({ store: this.store, runtime: this.runtime, log: this.log } = deps);
    this.timers = new SandboxTimers((id) => this.expire(id), deps.log);
    this.egress = new SandboxEgress(deps.store, deps.runtime, this.lock, deps.log);
    this.suspension = new SandboxSuspension({
      ...deps,
      lock: this.lock,
      setStatus: (s, to, patch, tx) => this.setStatus(s, to, patch, tx),
      release: (s) => this.release(s),
      arm: (id, ms) => this.timers.arm(id, ms),
    });
  }

  async create(project: string, cmd: CreateSandbox): Promise<SandboxRecord> {
    checkCreate(cmd);
    if (cmd.secrets) SandboxSecrets.check(cmd.secrets);
    const egress = await resolveEgress(cmd);
    checkEgress(cmd, egress);
    const image =
      cmd.snapshotId !== undefined
        ? await this.deps.snapshots.resolve(project, cmd.snapshotId)
        : await this.deps.images.resolve(project, cmd.image);
    if (cmd.volumes?.length && image.config.systemd)
      throw new SbxError(
        "invalid_argument",
        `image ${image.name} boots systemd with host ids: volumes need a sandbox with its own uid range`,
      );
    // A named sandbox's hostname is its name, which a blank from the pool cannot have; a blank has no volumes.
    const blank =
      cmd.name === undefined && cmd.snapshotId === undefined && !image.config.systemd && !cmd.volumes?.length
        ? await this.deps.pool.claim(image.id, cmd.allowInternetAccess ?? true)
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
      await this.store.transaction(async (tx) => {
        if (cmd.volumes?.length) {
          if (!this.deps.volumes) throw new SbxError("unimplemented", "this daemon keeps no volumes");
          record.volumes = await this.deps.volumes.mountsFor(tx, project, cmd);
        }
        if (record.allowInternetAccess && record.netSlot === null) record.netSlot = await this.deps.slots.allocate(tx);
        await tx.insertSandbox(record);
      });
    } catch (err) {
      if (blank) await this.deps.pool.discard(blank);
      throw err;
    }
    // The record holds a networked blank's slot now.
    if (blank?.spec.netSlot != null) this.deps.slots.release(blank.spec.netSlot);
    const createdAt = performance.now();
    this.deps.bus.publish({
      type: "sandbox.created",
      project,
      subject: record.id,
      sandboxId: record.id,
      attributes: { image: image.name, name: record.name, warm: blank !== undefined },
    });
    if (blank) this.deps.bus.publish({ type: "pool.claimed", project, subject: record.id, sandboxId: record.id });
    const spec = specFor({ kind: "sandbox", sandbox: record, image });
    return this.lock.run(record.id, async () => {
      try {
        if (record.secretNames?.length) {
          if (!this.deps.secrets) throw new SbxError("internal", "this daemon keeps no secrets");
          await this.deps.secrets.put(record.id, cmd.secrets!);
        }
        const { ipAddress } = blank
          ? await this.runtime.reconfigure(blank.spec, spec)
          : await this.runtime.create(spec);
        await this.setStatus(record, "running", { ipAddress, startedAt: new Date().toISOString() }, this.store, {
          startMs: Math.round((performance.now() - createdAt) * 1000) / 1000,
        });
      } catch (err) {
        if (blank) await this.runtime.destroy(record.id, record.netSlot).catch(() => undefined);
        await this.setStatus(record, "terminated", {
          terminatedAt: new Date().toISOString(),
          terminationReason: "error",
          netSlot: null,
        });
        throw err;
      }
      this.timers.arm(record.id, record.timeoutSecs * 1000);
      this.log.info({ sandbox: record.id, image: image.name, warm: blank !== undefined }, "sandbox started");
      return (await this.store.getSandbox(record.id))!;
    });
  }

  /** Keeps the secrets of a sandbox moved here from another node (cluster/move-node.ts), before it resumes. */
  async adoptSecrets(id: string, secrets: Record<string, string>): Promise<void> {
    SandboxSecrets.check(secrets);
    if (!this.deps.secrets) throw new SbxError("internal", "this daemon keeps no secrets");
    await this.deps.secrets.put(id, secrets);
  }

  /** The secrets of a sandbox, for the env of its processes and terminals. */
  async secretsOf(sb: SandboxRecord): Promise<Record<string, string>> {
    return sb.secretNames?.length && this.deps.secrets ? this.deps.secrets.get(sb.id) : {};
  }

  list(project: string, includeTerminated: boolean): Promise<SandboxRecord[]> {
    return this.store.listSandboxes({ project, includeTerminated });
  }

  /** Finds a sandbox of the project by id or name; other projects' sandboxes do not exist for it. */
  async get(project: string, idOrName: string): Promise<SandboxRecord> {
    const s = (await this.store.getSandbox(idOrName)) ?? (await this.store.findSandboxByName(project, idOrName));
    if (!s || s.project !== project) {
      throw new SbxError(
        "sandbox_not_found",
        `sandbox ${JSON.stringify(idOrName)} does not exist in project ${project}: list sandboxes with \`sbx ls -a\``,
      );
    }
    return s;
  }

  async getRunning(project: string, idOrName: string): Promise<SandboxRecord> {
    const s = await this.get(project, idOrName);
    if (s.status === "suspended")
      throw new SbxError(
        "sandbox_not_running",
        `sandbox ${s.id} is suspended: resume it with \`sbx resume ${s.name ?? s.id}\``,
      );
    if (s.status !== "running")
      throw new SbxError("sandbox_not_running", `sandbox ${s.id} is ${s.status}: start a new one with \`sbx new\``);
    return s;
  }

  async terminate(project: string, idOrName: string, reason = "requested"): Promise<SandboxRecord> {
    const s = await this.get(project, idOrName);
    // Idempotent: a sandbox that has ended already is answered as it is.
    if (s.status === "terminated") return s;
    return this.end(s.id, reason);
  }

  /**
   * Sets a running sandbox's timeout to `secs` from now (0: none), E2B's setTimeout. The record keeps
   * the total from its start, so a daemon restart re-arms the same deadline.
   */
  async setTimeout(project: string, idOrName: string, secs: number): Promise<SandboxRecord> {
    const sb = await this.getRunning(project, idOrName);
    return this.lock.run(sb.id, async () => {
      const s = (await this.store.getSandbox(sb.id))!;
      if (s.status !== "running")
        throw new SbxError("sandbox_not_running", `sandbox ${s.id} is ${s.status}: start a new one with \`sbx new\``);
      const elapsed = Math.max(0, Date.now() - Date.parse(s.startedAt ?? s.createdAt));
      const total = secs === 0 ? 0 : Math.ceil((elapsed + secs * 1000) / 1000);
      await this.store.updateSandbox(s.id, { timeoutSecs: total });
      this.timers.arm(s.id, secs * 1000);
      return (await this.store.getSandbox(s.id))!;
    });
  }

  /** A filesystem snapshot of a running sandbox, which keeps running. */
  async snapshot(
    project: string,
    sandbox: string,
    opts: { type?: "filesystem" | "memory" } = {},
  ): Promise<SnapshotRecord> {
    const sb = await this.getRunning(project, sandbox);
    this.deps.snapshots.assertSupported(opts.type);
    return this.lock.run(sb.id, async () => this.deps.snapshots.capture((await this.store.getSandbox(sb.id))!, false));
  }

  /** `copy -n N`: one snapshot, N new sandboxes from it, started together. */
  fork(project: string, sandbox: string, times: number, keepSnapshot = false): Promise<SandboxRecord[]> {
    return forkSandbox(this, project, sandbox, times, {
      keepSnapshot,
      removeSnapshot: (p, id) => this.deps.snapshots.remove(p, id),
    });
  }

  async suspend(project: string, sandbox: string): Promise<SandboxRecord> {
    const sb = await this.get(project, sandbox);
    if (sb.name === null)
      throw new SbxError(
        "failed_precondition",
        `sandbox ${sb.id} has no name: only named sandboxes can be suspended (create one with --name); an ephemeral sandbox can only be terminated`,
      );
    if (sb.status === "suspended") return sb;
    return this.suspension.suspend(sb.id, "requested");
  }

  /** Starts a suspended sandbox again from its suspend snapshot, with the same id and name. */
  async resume(project: string, sandbox: string): Promise<SandboxRecord> {
    return this.suspension.resume(project, await this.get(project, sandbox));
  }

  /**
   * Replaces a running sandbox's egress lists (an omitted list stays as it is) in one atomic nft
   * transaction. A suspended sandbox just has its record updated; resume applies it.
   */
  async updateNetwork(project: string, idOrName: string, cmd: UpdateEgress): Promise<SandboxRecord> {
    return this.egress.update(await this.get(project, idOrName), cmd);
  }

  /** Re-resolved addresses for a sandbox's host names (the daemon's refresh). */
  setEgressHosts(id: string, hosts: EgressHosts): Promise<void> {
    return this.egress.setHosts(id, hosts);
  }

  /**
   * Daemon start: sandboxes that are still running stay (their timeouts re-armed); the others are
   * marked terminated; then whatever is on the host that no live sandbox owns is removed.
   */
  reconcile(): Promise<{ kept: string[]; ended: string[]; leaks: string[] }> {
    return reconcileSandboxes({
      store: this.store,
      runtime: this.runtime,
      log: this.log,
      finishSuspend: async (s) => {
        await this.release(s).catch((err: unknown) =>
          this.log.warn({ sandbox: s.id, err }, "release of a suspended sandbox failed"),
        );
        await this.store.updateSandbox(s.id, { netSlot: null });
      },
      rearm: (id, ms) => this.timers.arm(id, ms),
      died: async (s) => {
        await this.setStatus(s, "terminated", {
          terminatedAt: new Date().toISOString(),
          terminationReason: "died",
          netSlot: null,
        });
        await this.deps.events.emit("ended", (await this.store.getSandbox(s.id))!);
      },
    });
  }

  /** Stops timers (daemon shutdown); sandboxes keep running. */
  close(): void {
    this.timers.close();
  }

  /** The one writer of `status`: the move is checked against the sandbox state machine. */
  private async setStatus(
    s: SandboxRecord,
    to: SandboxStatus,
    patch: StatusPatch,
    tx: MetaOps = this.store,
    attributes: Record<string, number> = {},
  ): Promise<void> {
    assertTransition(s.id, s.status, to);
    await tx.updateSandbox(s.id, { ...patch, status: to });
    this.publishStatus(s, to, patch, attributes);
  }

  /** Status changes as events: pending is internal; running after a suspension is a resume. */
  private publishStatus(s: SandboxRecord, to: SandboxStatus, patch: StatusPatch, extra: Record<string, number>): void {
    if (to === "pending" && s.status === "suspended") this.resuming.add(s.id);
    const type =
      to === "running"
        ? this.resuming.delete(s.id)
          ? ("sandbox.resumed" as const)
          : ("sandbox.running" as const)
        : to === "suspended"
          ? ("sandbox.suspended" as const)
          : to === "terminated"
            ? ("sandbox.terminated" as const)
            : undefined;
    if (to === "terminated" || to === "suspended") this.resuming.delete(s.id);
    if (!type) return;
    const attributes: Record<string, string | number | null> = { image: s.image, name: s.name, ...extra };
    if (to === "terminated" || to === "suspended") attributes.reason = patch.terminationReason ?? "requested";
    this.deps.bus.publish({ type, project: s.project, subject: s.id, sandboxId: s.id, attributes });
  }

  /** At its timeout a named sandbox is kept for later (suspended); an ephemeral one ends. */
  private async expire(id: string): Promise<SandboxRecord> {
    const s = await this.store.getSandbox(id);
    return s?.name != null ? this.suspension.suspend(id, "timeout") : this.end(id, "timeout");
  }

  /** A suspended sandbox's timer, processes and host resources go; its record and snapshot stay. */
  private async release(s: SandboxRecord): Promise<void> {
    this.timers.clear(s.id);
    await this.runtime.destroy(s.id, s.netSlot);
    await this.deps.events.emit("suspended", s);
  }

  private async end(id: string, reason: string): Promise<SandboxRecord> {
    return this.lock.run(id, async () => {
      const s = (await this.store.getSandbox(id))!;
      if (s.status === "terminated") return s;
      this.timers.clear(id);
      // Answered once nothing runs in it; mounts and network are released in the background.
      await this.runtime.destroy(id, s.netSlot, { background: true });
      await this.setStatus(s, "terminated", {
        terminatedAt: new Date().toISOString(),
        terminationReason: reason,
        netSlot: null,
      });
      const ended = (await this.store.getSandbox(id))!;
      await this.deps.events.emit("ended", ended);
      this.log.info({ sandbox: id, reason }, "sandbox terminated");
      return ended;
    });
  }
}
