// Sandbox lifecycle: create (pending → running), list, get, terminate, timeouts, and the
// reconcile pass at daemon start that keeps live sandboxes and cleans up after dead ones.
import { SbxError } from "@sbx-sh/protocol";
import { mergeEnv } from "@sbx-sh/protocol";
import { KeyedLock } from "../common/keyed-lock.js";
import type { Logger } from "../common/log.js";
import { assertValidName, newId } from "@sbx-sh/protocol";
import { LIMITS, type CreateSandboxRequest, type UpdateNetworkRequest } from "../api/schemas.js";
import { isOpenPolicy } from "../runtime/egress-ruleset.js";
import type { SandboxRuntime, SandboxSpec } from "../runtime/runtime.js";
import type { Store } from "../store/store.js";
import type { SandboxRecord } from "../domain/records.js";
import { expandEgress, resolveEgress, type EgressEntries, type EgressHosts } from "./egress.js";
import type { ImageService, ResolvedImage } from "./images.js";
import type { WarmPool } from "./warm-pool.js";

/** Called when a sandbox ends, so the process service can close what it holds for it; awaited. */
export type SandboxEndedHook = (sandbox: SandboxRecord) => void | Promise<void>;

export class SandboxService {
  private readonly lock = new KeyedLock();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly endedHooks: SandboxEndedHook[] = [];
  private pool: WarmPool | undefined;
  /** Network slots held by build sandboxes, which are not in the store. */
  private readonly reservedSlots = new Set<number>();

  constructor(
    private readonly store: Store,
    private readonly runtime: SandboxRuntime,
    private readonly images: ImageService,
    private readonly log: Logger,
  ) {}

  onEnded(hook: SandboxEndedHook): void {
    this.endedHooks.push(hook);
  }

  usePool(pool: WarmPool): void {
    this.pool = pool;
  }

  /** How a snapshot id becomes a stack to launch (set by the snapshot service). */
  resolveSnapshot: (project: string, id: string) => Promise<ResolvedImage> = () =>
    Promise.reject(new SbxError("failed_precondition", "snapshots are not available in this daemon"));

  async create(project: string, req: CreateSandboxRequest): Promise<SandboxRecord> {
    if (req.name !== undefined) assertValidName("sandbox", req.name);
    if (req.snapshotId !== undefined && req.image !== undefined)
      throw new SbxError("invalid_argument", "give either image or snapshotId, not both");
    const { entries, hosts, policy: egress } = await resolveEgress(req);
    if (req.allowInternetAccess === false && !isOpenPolicy(egress)) {
      throw new SbxError(
        "invalid_argument",
        "allowOut/denyOut need network access: a sandbox with allowInternetAccess false has no network at all",
      );
    }
    const image =
      req.snapshotId !== undefined
        ? await this.resolveSnapshot(project, req.snapshotId)
        : await this.images.resolve(project, req.image);
    // A named sandbox's hostname is its name, which a blank from the pool cannot have.
    const allowInternetAccess = req.allowInternetAccess ?? true;
    const blank =
      req.name === undefined && req.snapshotId === undefined && !image.config.systemd
        ? this.pool?.take(image.id, allowInternetAccess)
        : undefined;
    const now = new Date().toISOString();
    const record: SandboxRecord = {
      id: blank?.spec.id ?? newId("sb"),
      project,
      name: req.name ?? null,
      image: image.name,
      imageId: image.id,
      status: "pending",
      cpus: req.cpus ?? LIMITS.cpus.default,
      memoryMb: req.memoryMb ?? LIMITS.memoryMb.default,
      pidsLimit: req.pidsLimit ?? LIMITS.pids.default,
      diskMb: req.diskMb ?? LIMITS.diskMb.default,
      timeoutSecs: req.timeoutSecs ?? LIMITS.timeoutSecs.default,
      allowInternetAccess,
      allowOut: egress.allowOut,
      denyOut: egress.denyOut,
      egressEntries: entries,
      egressHosts: hosts,
      env: req.env ?? {},
      config: {
        env: image.config.env,
        workingDir: image.config.workingDir || "/",
        user: image.config.user || "0:0",
        systemd: image.config.systemd,
      },
      // A warm blank brings its slot; otherwise one is allocated with the insert, below.
      netSlot: allowInternetAccess ? (blank?.spec.netSlot ?? null) : null,
      ipAddress: null,
      lowers: image.lowers,
      source: { layers: image.layers, baseDir: image.baseDir, baseImage: image.baseImage },
      snapshotId: req.snapshotId ?? null,
      createdAt: now,
      startedAt: null,
      terminatedAt: null,
      terminationReason: null,
    };
    // The slot is allocated and taken in one transaction: no other create can be given it (the
    // store's unique index is the final guard).
    try {
      await this.store.transaction(async (tx) => {
        if (allowInternetAccess && record.netSlot === null)
          record.netSlot = await tx.allocateNetSlot(this.runtime.netSlotCapacity, this.reservedSlots);
        await tx.insertSandbox(record);
      });
    } catch (err) {
      if (blank) await this.pool?.discard(blank);
      throw err;
    }
    // The record holds a networked blank's slot now.
    if (blank?.spec.netSlot != null) this.releaseNetSlot(blank.spec.netSlot);
    const spec: SandboxSpec = {
      id: record.id,
      lowers: image.lowers,
      hostname: record.name ?? record.id,
      env: mergeEnv(image.config.env, record.env),
      workingDir: record.config.workingDir,
      cpus: record.cpus,
      memoryMb: record.memoryMb,
      pidsLimit: record.pidsLimit,
      diskMb: record.diskMb,
      netSlot: record.netSlot,
      egress,
      systemd: image.config.systemd,
      init: image.config.init,
    };
    return this.lock.run(record.id, async () => {
      try {
        const { ipAddress } = blank
          ? await this.runtime.reconfigure(blank.spec, spec)
          : await this.runtime.create(spec);
        await this.store.updateSandbox(record.id, {
          status: "running",
          ipAddress,
          startedAt: new Date().toISOString(),
        });
      } catch (err) {
        if (blank) await this.runtime.destroy(record.id, record.netSlot).catch(() => undefined);
        await this.store.updateSandbox(record.id, {
          status: "terminated",
          terminatedAt: new Date().toISOString(),
          terminationReason: "error",
          netSlot: null,
        });
        throw err;
      }
      this.armTimeout(record.id, record.timeoutSecs * 1000);
      this.log.info({ sandbox: record.id, image: image.name, warm: blank !== undefined }, "sandbox started");
      return (await this.store.getSandbox(record.id))!;
    });
  }

  /** A network slot for a sandbox the store does not know (a build step); release it after. */
  reserveNetSlot(): Promise<number> {
    // Chosen and reserved inside a transaction, so no create's allocation runs in between.
    return this.store.transaction(async (tx) => {
      const slot = await tx.allocateNetSlot(this.runtime.netSlotCapacity, this.reservedSlots);
      this.reservedSlots.add(slot);
      return slot;
    });
  }

  releaseNetSlot(slot: number): void {
    this.reservedSlots.delete(slot);
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
    if (s.status === "terminated") throw new SbxError("sandbox_not_running", `sandbox ${s.id} is already terminated`);
    return this.end(s.id, reason);
  }

  /** Set by the snapshot service: suspends a named sandbox whose timeout expired. */
  onTimeoutSuspend: ((id: string) => Promise<unknown>) | undefined;

  /** Runs `fn` with the sandbox's lifecycle lock held (suspend and resume need it too). */
  withLock<T>(id: string, fn: () => Promise<T>): Promise<T> {
    return this.lock.run(id, fn);
  }

  /** Stops a sandbox's timer, kills its processes and releases its host resources; the caller records the new state. */
  async release(s: SandboxRecord): Promise<void> {
    clearTimeout(this.timers.get(s.id));
    this.timers.delete(s.id);
    await this.runtime.destroy(s.id, s.netSlot);
    for (const hook of this.endedHooks) await hook(s);
  }

  /** Starts a suspended sandbox again from its suspend snapshot, with the same id and name. */
  async restart(s: SandboxRecord, image: ResolvedImage): Promise<SandboxRecord> {
    const netSlot = await this.store.transaction(async (tx) => {
      const slot = s.allowInternetAccess
        ? await tx.allocateNetSlot(this.runtime.netSlotCapacity, this.reservedSlots)
        : null;
      await tx.updateSandbox(s.id, { status: "pending", netSlot: slot });
      return slot;
    });
    try {
      const { ipAddress } = await this.runtime.create({
        id: s.id,
        lowers: image.lowers,
        hostname: s.name ?? s.id,
        env: mergeEnv(image.config.env, s.env),
        workingDir: s.config.workingDir,
        cpus: s.cpus,
        memoryMb: s.memoryMb,
        pidsLimit: s.pidsLimit,
        diskMb: s.diskMb,
        netSlot,
        egress: egressOf(s),
        systemd: image.config.systemd,
        init: image.config.init,
      });
      await this.store.updateSandbox(s.id, {
        status: "running",
        ipAddress,
        startedAt: new Date().toISOString(),
        lowers: image.lowers,
        source: { layers: image.layers, baseDir: image.baseDir, baseImage: image.baseImage },
      });
    } catch (err) {
      await this.store.updateSandbox(s.id, { status: "suspended", netSlot: null });
      throw err;
    }
    this.armTimeout(s.id, s.timeoutSecs * 1000);
    return (await this.store.getSandbox(s.id))!;
  }

  /**
   * Replaces a running sandbox's egress lists (an omitted list stays as it is) in one atomic nft
   * transaction. A suspended sandbox just has its record updated; resume applies it.
   */
  async updateNetwork(project: string, idOrName: string, req: UpdateNetworkRequest): Promise<SandboxRecord> {
    const found = await this.get(project, idOrName);
    const resolved = await resolveEgress(req);
    return this.lock.run(found.id, async () => {
      const s = (await this.store.getSandbox(found.id))!;
      if (s.status === "terminated") throw new SbxError("sandbox_not_running", `sandbox ${s.id} is terminated`);
      if (!s.allowInternetAccess)
        throw new SbxError(
          "failed_precondition",
          `sandbox ${s.id} has no network (allowInternetAccess false); its egress policy cannot be set`,
        );
      const old = egressEntriesOf(s);
      const entries = {
        allowOut: req.allowOut !== undefined ? resolved.entries.allowOut : old.allowOut,
        denyOut: req.denyOut !== undefined ? resolved.entries.denyOut : old.denyOut,
      };
      // Names of a kept list keep their addresses; names given now have fresh ones.
      const hosts: EgressHosts = {};
      for (const name of [...entries.allowOut, ...entries.denyOut]) {
        const addrs = resolved.hosts[name] ?? s.egressHosts?.[name];
        if (addrs) hosts[name] = addrs;
      }
      return this.applyEgress(s, entries, hosts);
    });
  }

  /**
   * Re-resolved addresses for a sandbox's host names (the daemon's refresh): the chain is swapped
   * atomically when they changed; a suspended sandbox just has its record updated.
   */
  async setEgressHosts(id: string, hosts: EgressHosts): Promise<void> {
    await this.lock.run(id, async () => {
      const s = await this.store.getSandbox(id);
      if (!s || s.status === "terminated" || !s.allowInternetAccess) return;
      const entries = egressEntriesOf(s);
      const names = [...entries.allowOut, ...entries.denyOut].filter((n) => hosts[n] ?? s.egressHosts?.[n]);
      await this.applyEgress(s, entries, Object.fromEntries(names.map((n) => [n, hosts[n] ?? s.egressHosts![n]!])));
    });
  }

  private async applyEgress(s: SandboxRecord, entries: EgressEntries, hosts: EgressHosts): Promise<SandboxRecord> {
    const next = expandEgress(entries, hosts);
    if (s.status === "running" && s.netSlot !== null) await this.runtime.updateEgress(s.id, s.netSlot, next);
    await this.store.updateSandbox(s.id, { ...next, egressEntries: entries, egressHosts: hosts });
    this.log.info({ sandbox: s.id, ...next, hosts }, "egress policy updated");
    return (await this.store.getSandbox(s.id))!;
  }

  private async end(id: string, reason: string): Promise<SandboxRecord> {
    return this.lock.run(id, async () => {
      const s = (await this.store.getSandbox(id))!;
      if (s.status === "terminated") return s;
      clearTimeout(this.timers.get(id));
      this.timers.delete(id);
      await this.runtime.destroy(id, s.netSlot);
      await this.store.updateSandbox(id, {
        status: "terminated",
        terminatedAt: new Date().toISOString(),
        terminationReason: reason,
        netSlot: null,
      });
      const ended = (await this.store.getSandbox(id))!;
      for (const hook of this.endedHooks) await hook(ended);
      this.log.info({ sandbox: id, reason }, "sandbox terminated");
      return ended;
    });
  }

  private armTimeout(id: string, ms: number): void {
    if (ms <= 0) return;
    // setTimeout overflows past 2^31-1 ms; long timeouts re-arm in steps.
    const step = Math.min(ms, 2 ** 31 - 1);
    const t = setTimeout(() => {
      if (ms > step) return this.armTimeout(id, ms - step);
      // A named sandbox is kept for later: at its timeout it is suspended; an ephemeral one ends.
      const stop = this.store
        .getSandbox(id)
        .then((s) => (s?.name != null && this.onTimeoutSuspend ? this.onTimeoutSuspend(id) : this.end(id, "timeout")));
      stop.catch((err: unknown) => this.log.error({ sandbox: id, err }, "timeout handling failed"));
    }, step);
    t.unref();
    this.timers.set(id, t);
  }

  /**
   * Daemon start: sandboxes that are still running stay (their timeouts re-armed); the others are
   * marked terminated; then whatever is on the host that no live sandbox owns is removed.
   */
  async reconcile(): Promise<{ kept: string[]; ended: string[]; leaks: string[] }> {
    const kept: string[] = [];
    const ended: string[] = [];
    for (const s of await this.store.listSandboxes({ includeTerminated: false })) {
      // Suspended sandboxes have nothing on the host; their snapshot is in the store. One whose
      // daemon died between recording the suspend and releasing it still has its container, network
      // slot and processes: the release is finished here.
      if (s.status === "suspended") {
        if (s.netSlot !== null || (await this.runtime.isRunning(s.id))) {
          await this.release(s).catch((err: unknown) =>
            this.log.warn({ sandbox: s.id, err }, "release of a suspended sandbox failed"),
          );
          await this.store.updateSandbox(s.id, { netSlot: null });
        }
        continue;
      }
      if (s.status === "running" && (await this.runtime.isRunning(s.id))) {
        // A daemon killed in the middle of a snapshot leaves the sandbox frozen.
        await this.runtime.thaw(s.id).catch((err: unknown) => this.log.warn({ sandbox: s.id, err }, "could not thaw"));
        kept.push(s.id);
        const deadline = s.timeoutSecs > 0 ? Date.parse(s.startedAt ?? s.createdAt) + s.timeoutSecs * 1000 : 0;
        if (deadline) this.armTimeout(s.id, Math.max(1, deadline - Date.now()));
        continue;
      }
      await this.runtime
        .destroy(s.id, s.netSlot)
        .catch((err: unknown) => this.log.warn({ sandbox: s.id, err }, "cleanup of a dead sandbox failed"));
      await this.store.updateSandbox(s.id, {
        status: "terminated",
        terminatedAt: new Date().toISOString(),
        terminationReason: "died",
        netSlot: null,
      });
      const died = (await this.store.getSandbox(s.id))!;
      for (const hook of this.endedHooks) await hook(died);
      ended.push(s.id);
    }
    const leaks = await this.runtime.cleanupLeaks(new Set(kept), await this.store.usedNetSlots());
    return { kept, ended, leaks };
  }

  /** Stops timers (daemon shutdown); sandboxes keep running. */
  close(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}

function egressEntriesOf(s: SandboxRecord): EgressEntries {
  return s.egressEntries ?? { allowOut: s.allowOut ?? [], denyOut: s.denyOut ?? [] };
}

function egressOf(s: SandboxRecord): { allowOut: string[]; denyOut: string[] } {
  return { allowOut: s.allowOut ?? [], denyOut: s.denyOut ?? [] };
}
