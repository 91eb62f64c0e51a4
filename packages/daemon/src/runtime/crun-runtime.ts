// SandboxRuntime on crun: overlay root on a size-capped tmpfs, user namespace, cgroup limits,
// seccomp, an optional veth+NAT network, and processes that survive a daemon restart. This file
// holds the sandbox's life after create (reconfigure, capture, teardown) and its file operations;
// creation is ./crun-create.ts, processes and terminals ./crun-processes.ts.
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { SbxError } from "@sbx-sh/protocol";
import { mustRun } from "../common/command.js";
import { isOpenPolicy } from "../domain/egress-policy.js";
import { inodesFor, removeSnapshot } from "../layers/overlay.js";
import { AgentFiles, FILES_VERSION } from "./agent/agent-files.js";
import { AgentSandboxes } from "./agent/agent-sandboxes.js";
import { Crun } from "./crun.js";
import { CrunCreate } from "./crun-create.js";
import { cleanupLeaks } from "./crun-leaks.js";
import type { CrunRuntimeOptions } from "./crun-options.js";
import { CrunProcesses } from "./crun-processes.js";
import type { DirectoryPage, PageRequest } from "./directory-page.js";
import { contentOf, type FileContent } from "./file-content.js";
import { memorySnapshotSupport } from "./host-facts.js";
import { dropTraverseAcl } from "./legacy-traverse-acl.js";
import type { SandboxRuntime } from "./runtime.js";
import { SandboxFiles } from "./sandbox-files.js";
import { stagedResolvConf } from "./sandbox-stage.js";
import { readSandboxStats } from "./sandbox-stats.js";
import { Teardowns, killInit } from "./teardowns.js";
import { ToolStage } from "./tool-stage.js";
import type {
  EgressPolicy,
  LayerSource,
  ProcessHandle,
  ProcessSpec,
  RuntimeCapabilities,
  SandboxSpec,
  SandboxStats,
  TerminalHandle,
  TerminalSpec,
} from "./types.js";
import { UidRanges } from "./uid-ranges.js";
import { LoopVolumeDisks, type VolumeDisks } from "./volume-disks.js";

export type { CrunRuntimeOptions } from "./crun-options.js";

export class CrunRuntime implements SandboxRuntime {
  readonly name = "crun";
  readonly capabilities: RuntimeCapabilities;
  readonly crun: Crun;
  private readonly crunFiles: SandboxFiles;
  private readonly agentFiles: AgentFiles | undefined;
  private readonly limitSwap: boolean;
  private readonly agents: AgentSandboxes | undefined;
  private readonly teardowns = new Teardowns();
  private readonly ranges: UidRanges;
  private readonly creates: CrunCreate;
  private readonly processes: CrunProcesses;
  readonly volumes: VolumeDisks | undefined;

  constructor(private readonly o: CrunRuntimeOptions) {
    this.crun = new Crun(o.crunRoot);
    this.volumes = o.volumesDir ? new LoopVolumeDisks({ dir: o.volumesDir, uidBase: o.uidBase }) : undefined;
    if (o.agentPath && !existsSync(o.agentPath))
      throw new SbxError(
        "runtime_error",
        `sbx-agent is missing at ${o.agentPath}: build it (apt-get install musl-tools; npm run build) or start sbxd with SBX_AGENT=off`,
      );
    this.agents = o.agentPath ? new AgentSandboxes((id) => this.dir(id), { binary: o.agentPath }) : undefined;
    const agents = this.agents;
    this.agentFiles = agents
      ? new AgentFiles(
          (id) => agents.client(id),
          (id) => agents.connect(id),
          (id) => join(this.dir(id), "state", "uploads"),
        )
      : undefined;
    this.ranges = new UidRanges({ sandboxesDir: o.sandboxesDir, storageBase: o.uidBase });
    const tools: Record<string, string> = { init: o.initPath, busybox: o.busyboxPath };
    if (o.agentPath) tools.agent = o.agentPath;
    const stage = o.toolsDir ? new ToolStage(o.toolsDir, tools) : undefined;
    this.crunFiles = new SandboxFiles(this.crun, (id) => join(this.dir(id), "state", "uploads"));
    // Without swap accounting (cgroup v1 without memsw) crun refuses a swap limit.
    this.limitSwap = o.cgroupVersion === 2 || existsSync("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes");
    const parts = {
      o,
      crun: this.crun,
      agents,
      cgroupVersion: o.cgroupVersion,
      cgroupParent: this.cgroupParent,
      dir: (id: string) => this.dir(id),
      known: (id: string) => this.known(id),
    };
    this.processes = new CrunProcesses(parts);
    this.creates = new CrunCreate({
      ...parts,
      ranges: this.ranges,
      teardowns: this.teardowns,
      tools: stage,
      volumes: this.volumes,
      limitSwap: this.limitSwap,
      destroy: (id, netSlot) => this.destroy(id, netSlot),
    });
    const memory = memorySnapshotSupport();
    this.capabilities = {
      memorySnapshots: { supported: memory.ok, reason: memory.reason },
      // crun pause freezes the sandbox's cgroup while its upper dir is copied.
      liveCapture: true,
      userNamespaces: true,
    };
  }

  private get cgroupParent(): string {
    return this.o.cgroupParent ?? "sbx";
  }

  private dir(id: string): string {
    return join(this.o.sandboxesDir, id);
  }

  /** The sandbox's dir, or sandbox_not_found: every sandbox this runtime made has one until destroy. */
  private known(id: string): string {
    const dir = this.dir(id);
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(id) || !existsSync(dir))
      throw new SbxError("sandbox_not_found", `sandbox ${id} does not exist in the ${this.name} runtime`);
    return dir;
  }

  stats(id: string, netSlot: number | null): Promise<SandboxStats> {
    return readSandboxStats({
      cgroupVersion: this.o.cgroupVersion,
      cgroup: `${this.cgroupParent}/${id}`,
      diskMount: join(this.known(id), "rw"),
      hostInterface: netSlot === null ? null : this.o.network.networkFor(netSlot).hostInterface,
    });
  }

  create(spec: SandboxSpec): Promise<{ ipAddress: string | null }> {
    return this.creates.run(spec);
  }

  async reconfigure(from: SandboxSpec, to: SandboxSpec): Promise<{ ipAddress: string | null }> {
    const dir = this.dir(to.id);
    const memory = String(to.memoryMb * 1024 * 1024);
    // The cgroup limits and the disk cap are independent: both commands run at once.
    await Promise.all([
      to.cpus !== from.cpus || to.memoryMb !== from.memoryMb || to.pidsLimit !== from.pidsLimit
        ? mustRun(this.crun.binary, [
            "--root",
            this.o.crunRoot,
            "update",
            `--memory=${memory}`,
            ...(this.limitSwap ? [`--memory-swap=${memory}`] : []),
            `--cpu-quota=${Math.round(to.cpus * 100_000)}`,
            "--cpu-period=100000",
            `--pids-limit=${to.pidsLimit}`,
            to.id,
          ])
        : undefined,
      to.diskMb !== from.diskMb
        ? mustRun("mount", ["-o", `remount,size=${to.diskMb}m,nr_inodes=${inodesFor(to.diskMb)}`, join(dir, "rw")])
        : undefined,
    ]);
    if (to.netSlot === null) return { ipAddress: null };
    // A networked blank: its veth is up with an open policy; only a narrower policy is left to apply.
    if (from.netSlot === to.netSlot) {
      if (!isOpenPolicy(to.egress)) await this.o.network.setEgress(to.id, to.netSlot, to.egress!);
      return { ipAddress: this.o.network.networkFor(to.netSlot).ipAddress };
    }
    // Rewritten in place: the sandbox sees this very inode through its bind mount.
    await writeFile(stagedResolvConf(dir), this.o.network.resolvConf());
    const pid = Number((await readFile(join(dir, "state", "init.pid"), "utf8")).trim());
    await this.teardowns.slotFree(to.netSlot);
    return { ipAddress: (await this.o.network.attach(to.id, to.netSlot, pid, to.egress)).ipAddress };
  }

  async destroy(id: string, netSlot: number | null, opts: { background?: boolean } = {}): Promise<void> {
    this.agents?.forget(id);
    const pending = this.teardowns.pending(id);
    if (pending) return opts.background ? undefined : pending;
    if (opts.background && (await killInit(this.dir(id), id))) {
      // Unreachable now: init's death took every process of its pid namespace with it.
      this.teardowns.start(id, netSlot, () => this.teardown(id, netSlot));
      return;
    }
    await this.teardown(id, netSlot);
  }

  /** Settles the teardowns still running in the background (destroy with `background`). */
  settle(): Promise<void> {
    return this.teardowns.settle();
  }

  private async teardown(id: string, netSlot: number | null): Promise<void> {
    await this.crun.delete(id);
    // Deleting a veth is slow kernel work (~20 ms): do it while the mounts come down.
    await Promise.all([
      netSlot !== null ? this.o.network.detach(id, netSlot) : undefined,
      removeSnapshot(this.dir(id)),
    ]);
    if (this.ranges.of(id) !== undefined) this.ranges.release(id);
  }

  /** The first host uid of the sandbox's range (undefined: host ids, or no such sandbox). */
  uidRangeOf(id: string): number | undefined {
    return this.ranges.of(id);
  }

  async updateEgress(id: string, netSlot: number, policy: EgressPolicy): Promise<void> {
    await this.o.network.setEgress(id, netSlot, policy);
  }

  async exportLayer<T>(id: string, opts: { live: boolean }, consume: (layer: LayerSource) => Promise<T>): Promise<T> {
    const layer: LayerSource = { kind: "directory", path: join(this.known(id), "rw", "upper") };
    if (!opts.live) {
      // Stopped, not frozen: the mounts stay until destroy, the processes are gone.
      await this.crun.delete(id);
      return consume(layer);
    }
    await mustRun(this.crun.binary, ["--root", this.o.crunRoot, "pause", id]);
    try {
      return await consume(layer);
    } finally {
      await this.thaw(id);
    }
  }

  canCaptureQuiet(id: string): boolean {
    return this.processes.canCaptureQuiet(id);
  }

  captureQuiet<T>(id: string, consume: (layer: LayerSource) => Promise<T>): Promise<T> {
    return this.processes.captureQuiet(id, consume);
  }

  async thaw(id: string): Promise<void> {
    const s = await this.crun.state(id);
    if (s?.status === "paused") await mustRun(this.crun.binary, ["--root", this.o.crunRoot, "resume", id]);
  }

  resolveUser(id: string, user: string): Promise<string> {
    return this.processes.resolveUser(id, user);
  }

  run(
    id: string,
    spec: Omit<ProcessSpec, "stdin">,
    onOutput: (stream: "stdout" | "stderr", data: Buffer) => void,
    signal?: AbortSignal,
  ): Promise<number> {
    return this.processes.run(id, spec, onOutput, signal);
  }

  async isRunning(id: string): Promise<boolean> {
    // Its init is dead (maybe not yet reaped, which crun would count as running).
    if (this.teardowns.pending(id)) return false;
    const s = await this.crun.state(id);
    return s !== undefined && (s.status === "running" || s.status === "created" || s.status === "paused");
  }

  get netSlotCapacity(): number {
    return this.o.network.capacity;
  }

  async cleanupLeaks(liveIds: Set<string>, liveSlots: Set<number>): Promise<string[]> {
    const removed = await cleanupLeaks(this.crun, this.o, liveIds, liveSlots);
    this.ranges.retain(liveIds);
    await dropTraverseAcl([dirname(this.o.sandboxesDir), this.o.sandboxesDir]);
    return removed;
  }

  startProcess(id: string, procId: string, spec: ProcessSpec): Promise<ProcessHandle> {
    return this.processes.startProcess(id, procId, spec);
  }
  attachProcess(id: string, procId: string): Promise<ProcessHandle> {
    return this.processes.attachProcess(id, procId);
  }
  outputUsage(id: string): Promise<number> {
    return this.processes.outputUsage(id);
  }
  discardOutput(id: string, procId: string): Promise<void> {
    return this.processes.discardOutput(id, procId);
  }
  forgetProcess(id: string, procId: string): Promise<void> {
    return this.processes.forgetProcess(id, procId);
  }
  openTerminal(id: string, termId: string, spec: TerminalSpec): TerminalHandle {
    return this.processes.openTerminal(id, termId, spec);
  }
  adoptTerminals(id: string) {
    return this.processes.adoptTerminals(id);
  }

  /** The agent's file operations when the sandbox's agent speaks them; busybox via crun exec otherwise. */
  private async files(id: string): Promise<SandboxFiles | AgentFiles> {
    if (this.agentFiles && this.agents?.has(id) && (await this.agents.speaks(id, FILES_VERSION)))
      return this.agentFiles;
    return this.crunFiles;
  }

  async readFile(id: string, path: string, signal?: AbortSignal): Promise<FileContent> {
    this.known(id);
    const files = await this.files(id);
    // The busybox fallback (version-1 agents, no agent) reads whole, bounded by MAX_READ_BYTES, not stopped.
    return files instanceof AgentFiles ? files.read(id, path, signal) : contentOf(await files.read(id, path));
  }
  async writeFile(id: string, path: string, data: Readable): Promise<void> {
    this.known(id);
    return (await this.files(id)).write(id, path, data);
  }
  async listDirectory(id: string, path: string, page: PageRequest): Promise<DirectoryPage> {
    this.known(id);
    // Pages are cut inside the sandbox by its busybox (find | sort | awk), so a huge directory costs
    // the sandbox, not the daemon; the agent's listing would hand the daemon the whole directory.
    return this.crunFiles.list(id, path, page);
  }
  async deleteFile(id: string, path: string, recursive: boolean): Promise<void> {
    this.known(id);
    return (await this.files(id)).remove(id, path, recursive);
  }
  async extractArchive(id: string, dir: string, archive: Readable): Promise<void> {
    this.known(id);
    return (await this.files(id)).extractArchive(id, dir, archive);
  }
  async createArchive(id: string, path: string): Promise<Readable> {
    this.known(id);
    return (await this.files(id)).createArchive(id, path);
  }
}
