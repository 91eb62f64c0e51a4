// The sandbox lifecycle: create, get and list, terminate, timeouts, snapshot and fork, suspend and
// resume, and the reconcile pass at daemon start. Every change of `status` goes through its one
// writer (sandbox-status.ts). What others hold per sandbox they let go of on the events this
// service emits (sandbox-events.ts).
import { SbxError } from "@sbx-sh/protocol";
import { KeyedLock } from "../common/keyed-lock.js";
import type { Logger } from "../common/log.js";
import type { CreateSandbox, UpdateEgress } from "../domain/commands.js";
import type { EgressHosts } from "../domain/egress-policy.js";
import type { SandboxRecord, SnapshotRecord } from "../domain/records.js";
import type { SandboxRuntime } from "../runtime/runtime.js";
import type { Store } from "../store/store.js";
import type { ImageService } from "./images.js";
import type { EventBus } from "./event-bus.js";
import type { NetSlots } from "./net-slots.js";
import { SandboxEgress } from "./sandbox-egress.js";
import type { SandboxEvents } from "./sandbox-events.js";
import { forkSandbox } from "./sandbox-fork.js";
import { SandboxSecrets } from "./sandbox-secrets.js";
import { reconcileSandboxes } from "./sandbox-reconcile.js";
import { SandboxSuspension } from "./sandbox-suspend.js";
import { createSandbox } from "./sandbox-create.js";
import { StatusWriter } from "./sandbox-status.js";
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
  private readonly status: StatusWriter;

  constructor(private readonly deps: SandboxServiceDeps) {
    ({ store: this.store, runtime: this.runtime, log: this.log } = deps);
    this.status = new StatusWriter(deps.store, deps.bus);
    this.timers = new SandboxTimers((id) => this.expire(id), deps.log);
    this.egress = new SandboxEgress(deps.store, deps.runtime, this.lock, deps.log);
    this.suspension = new SandboxSuspension({
      ...deps,
      lock: this.lock,
      setStatus: (s, to, patch, tx) => this.status.set(s, to, patch, tx),
      release: (s) => this.release(s),
      arm: (id, ms) => this.timers.arm(id, ms),
    });
  }

  /** Starts a sandbox (sandbox-create.ts). */
  create(project: string, cmd: CreateSandbox): Promise<SandboxRecord> {
    return createSandbox(
      { ...this.deps, lock: this.lock, status: this.status, arm: (id, ms) => this.timers.arm(id, ms) },
      project,
      cmd,
    );
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
    opts: { type?: "filesystem" | "memory"; forFork?: boolean } = {},
  ): Promise<SnapshotRecord> {
    const sb = await this.getRunning(project, sandbox);
    this.deps.snapshots.assertSupported(opts.type);
    return this.lock.run(sb.id, async () =>
      this.deps.snapshots.capture((await this.store.getSandbox(sb.id))!, false, opts.forFork === true),
    );
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
      resumeDied: async (s) => {
        await this.status.set(s, "suspended", { netSlot: null, ipAddress: null });
        await this.deps.events.emit("suspended", (await this.store.getSandbox(s.id))!);
      },
      died: async (s) => {
        await this.status.set(s, "terminated", {
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
      await this.status.set(s, "terminated", {
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
