// SandboxRuntime on crun: overlay root on a size-capped tmpfs, user namespace, cgroup limits,
// seccomp, an optional veth+NAT network attached between `crun create` and `crun start`, and
// processes under detached supervisors so they survive a daemon restart.
import { existsSync } from "node:fs";
import { chmod, chown, mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { mustRun } from "../common/command.js";
import { Crun } from "./crun.js";
import { spawn } from "node:child_process";
import { SbxError } from "@sbx-sh/protocol";
import { buildOciConfig } from "./oci-config.js";
import { isOpenPolicy } from "../domain/egress-policy.js";
import { memorySnapshotSupport } from "./host-facts.js";
import { NetworkManager } from "./network.js";
import { discardOutput, launchProcess, logsUsage, processExists, processFiles } from "./process-supervisor.js";
import { openPtyExec } from "./pty-exec.js";
import type { SandboxRuntime } from "./runtime.js";
import { SandboxFiles } from "./sandbox-files.js";
import type { DirectoryPage, PageRequest } from "./directory-page.js";
import { SupervisedProcess } from "./supervised-process.js";
import { readSandboxStats } from "./sandbox-stats.js";
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
import { resolveUser } from "./user-resolve.js";
import { cleanupLeaks } from "./crun-leaks.js";
import { waitForBoot } from "./systemd-boot.js";
import { AgentSandboxes } from "./agent/agent-sandboxes.js";
import { AgentFiles, FILES_VERSION } from "./agent/agent-files.js";
import { dropTerminalRecord, loadTerminalRecords, saveTerminalRecord } from "./agent/agent-terminal-records.js";
import { Teardowns, killInit } from "./teardowns.js";
import { quiesce } from "./quiesce.js";
import { inodesFor, prepareSnapshot, removeSnapshot } from "../layers/overlay.js";
import { UidRanges } from "./uid-ranges.js";
import { withBundleRelativePaths } from "./bundle-paths.js";
import { dropTraverseAcl } from "./legacy-traverse-acl.js";
import { stageDir, stagedResolvConf } from "./sandbox-stage.js";
import { ToolStage } from "./tool-stage.js";
import type { AgentMounts } from "./agent/agent-mounts.js";
import { LoopVolumeDisks, type VolumeDisks } from "./volume-disks.js";
import { mountSandboxVolumes } from "./volume-mounts.js";
import type { HostTrust } from "./host-ca.js";
import { UsernsOwner } from "./userns-owner.js";

export interface CrunRuntimeOptions {
  /** Where each sandbox's bundle, mounts and process state live: `<sandboxesDir>/<id>`. */
  sandboxesDir: string;
  crunRoot: string;
  uidBase: number;
  uidCount: number;
  initPath: string;
  busyboxPath: string;
  /** Where init, busybox and the agent are staged on a tmpfs for sandboxes (./tool-stage.ts); absent: bound from the host. */
  toolsDir?: string;
  /** sbx-idmap: clones layers as idmapped mounts into each sandbox's own uid range. */
  idmapHelper: string;
  network: NetworkManager;
  nofile: number;
  cgroupVersion: 1 | 2;
  /** cgroup every sandbox's is made under (`<parent>/<id>`); default "sbx" (sbxd --cgroup-parent). */
  cgroupParent?: string;
  logsSizeMb?: number;
  /** sbx-agent on the host: PID 1 and process server of every sandbox without systemd or a custom init. */
  agentPath?: string;
  /** Where volumes' disks live (`<dataDir>/volumes`); absent: no volumes. */
  volumesDir?: string;
  /** Extra CAs (sbxd --ca-cert) appended to every sandbox's and build step's trust store. */
  hostTrust?: HostTrust;
  /** sbx-userns: makes each sandbox's user namespace owned by its base uid; default: beside idmapHelper. */
  usernsHelper?: string;
}

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
  private readonly tools: ToolStage<string> | undefined;
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
    this.tools = o.toolsDir ? new ToolStage(o.toolsDir, tools) : undefined;
    this.crunFiles = new SandboxFiles(this.crun, (id) => join(this.dir(id), "state", "uploads"));
    // Without swap accounting (cgroup v1 without memsw) crun refuses a swap limit.
    this.limitSwap = o.cgroupVersion === 2 || existsSync("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes");
    const memory = memorySnapshotSupport();
    this.capabilities = {
      memorySnapshots: { supported: memory.ok, reason: memory.reason },
      // crun pause freezes the sandbox's cgroup while its upper dir is copied.
      liveCapture: true,
      userNamespaces: true,
    };
  }

  /** Init and busybox for a sandbox's config: the staged copies when there is a stage. */
  private async toolPaths(): Promise<{ initPath: string; busyboxPath: string }> {
    const t = await this.tools?.paths();
    return { initPath: t?.init ?? this.o.initPath, busyboxPath: t?.busybox ?? this.o.busyboxPath };
  }

  private async stagedAgent(agent: AgentMounts): Promise<AgentMounts> {
    const t = await this.tools?.paths();
    return t?.agent ? { ...agent, binary: t.agent } : agent;
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

  async create(spec: SandboxSpec): Promise<{ ipAddress: string | null }> {
    const dir = this.dir(spec.id);
    let userns: UsernsOwner | undefined;
    let pendingUserns: Promise<UsernsOwner> | undefined;
    let policy: Promise<void> | undefined;
    /** The veth wired into the holder's own netns (./userns-owner.ts), undefined when crun makes the netns. */
    let premadeNet: Promise<string | undefined> | undefined;
    try {
      // Output logs get their own small tmpfs: a sandbox that fills its disk can still be inspected.
      const hostIds = spec.hostIds === true || spec.systemd === true;
      // The sandbox's own uid range, recorded in its dir before anything runs as it. Its dir is
      // searchable by its own root group only; its parents by no one but host root: crun reaches
      // the sandbox's files from inside its dir (./bundle-paths.ts).
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const range = hostIds ? 0 : this.ranges.allocate(spec.id, dir);
      if (!hostIds) {
        await chown(dir, 0, range);
        await chmod(dir, 0o710);
      }
      // The slot's egress policy (after the slot's last teardown, whose detach removes its rules)
      // and the user namespace need nothing of the mounts: both start once the mounts have started
      // (the longest step before crun) and are awaited later.
      const startBeside = () => {
        if (spec.netSlot !== null) policy = this.loadPolicyWhenFree(spec.id, spec.netSlot, spec.egress);
        if (!hostIds)
          pendingUserns = UsernsOwner.create(this.usernsHelper(), range, this.o.uidCount, {
            net: spec.netSlot !== null,
          });
        // A networked sandbox's netns comes with its user namespace: its veth is wired meanwhile too.
        if (pendingUserns && policy) premadeNet = this.wirePremadeNet(spec, pendingUserns, policy);
        // Awaited below (or on failure): no unhandled rejection meanwhile.
        policy?.catch(() => undefined);
        pendingUserns?.catch(() => undefined);
        premadeNet?.catch(() => undefined);
      };
      const snap = await prepareSnapshot(dir, spec.lowers, {
        onStarted: startBeside,
        sizeMb: spec.diskMb,
        uidBase: hostIds ? 0 : this.o.uidBase,
        idmap: hostIds
          ? undefined
          : { helper: this.o.idmapHelper, from: this.o.uidBase, to: range, count: this.o.uidCount },
        scratch: [{ name: "logs", sizeMb: this.o.logsSizeMb ?? 64 }],
        busybox: this.o.busyboxPath,
      });
      await mkdir(join(dir, "state"), { mode: 0o700 });
      const staged = await stageDir(dir, hostIds);
      const volumes = await mountSandboxVolumes(
        dir,
        spec.volumes ?? [],
        this.volumes,
        hostIds ? undefined : { helper: this.o.idmapHelper, from: this.o.uidBase, to: range, count: this.o.uidCount },
      );
      const withAgent = this.agents && !spec.systemd && !spec.init;
      const agent = withAgent
        ? // Its dirs are bind mounts, not idmapped: owned by the sandbox's own root (host ids: 0).
          await this.stagedAgent(await this.agents!.prepare(spec.id, join(dir, "logs"), range, staged))
        : undefined;
      const resolvConf = join(staged, "resolv.conf");
      await writeFile(resolvConf, spec.netSlot === null ? "" : this.o.network.resolvConf(), { mode: 0o644 });
      // Owned by the range's base uid, so per-user kernel budgets are the sandbox's own (F3).
      userns = await pendingUserns;
      const config = buildOciConfig({
        id: spec.id,
        rootfs: snap.rootfs,
        hostname: spec.hostname,
        init: spec.init,
        env: spec.env,
        cwd: spec.workingDir,
        uidBase: range,
        uidCount: this.o.uidCount,
        cpus: spec.cpus,
        memoryMb: spec.memoryMb,
        pidsLimit: spec.pidsLimit,
        limitSwap: this.limitSwap,
        nofile: this.o.nofile,
        cgroupsPath: `/${this.cgroupParent}/${spec.id}`,
        ...(await this.toolPaths()),
        helperDirMb: spec.diskMb,
        resolvConf,
        trustMounts: await this.o.hostTrust?.mountsFor(spec.lowers, staged),
        systemd: spec.systemd,
        hostIds,
        agent,
        volumes,
        userNamespacePath: userns?.path,
        networkNamespacePath: userns?.netPath,
      });
      await writeFile(join(dir, "config.json"), JSON.stringify(withBundleRelativePaths(config, dir)), { mode: 0o600 });
      const pidFile = join(dir, "state", "init.pid");
      const logFile = join(dir, "state", "init.log");
      let ipAddress: string | null = null;
      let pid: number;
      if (spec.netSlot === null) {
        pid = await this.crun.create(spec.id, dir, pidFile, logFile, { start: true });
      } else if (userns?.netPath) {
        // Its netns exists already: one `crun run`. With the agent as init nothing of the sandbox's
        // own runs before create returns, so the veth may still be in the making meanwhile; a
        // custom init finds it ready.
        if (!agent) await premadeNet;
        const [net, created] = await Promise.allSettled([
          premadeNet!,
          this.crun.create(spec.id, dir, pidFile, logFile, { start: true }),
        ]);
        if (net.status === "rejected") throw net.reason;
        if (created.status === "rejected") throw created.reason;
        ipAddress = net.value ?? null;
        pid = created.value;
      } else {
        // The veth goes into the sandbox's own network namespace after create. With the agent as
        // init, nothing of the sandbox's own runs before create returns: it starts meanwhile.
        pid = await this.crun.create(spec.id, dir, pidFile, logFile);
        const attach = async () => {
          await policy;
          return (await this.o.network.attach(spec.id, spec.netSlot!, pid, spec.egress, { policyLoaded: true }))
            .ipAddress;
        };
        if (agent) {
          // Both settle before a failure is thrown: destroy must not race a veth still being made.
          const [net, started] = await Promise.allSettled([attach(), this.crun.start(spec.id)]);
          if (net.status === "rejected") throw net.reason;
          if (started.status === "rejected") throw started.reason;
          ipAddress = net.value;
        } else {
          ipAddress = await attach();
          await this.crun.start(spec.id);
        }
      }
      userns?.release();
      await this.crun.untilInitExecs(pid);
      if (agent) await this.agents!.ready(spec.id);
      if (spec.systemd) await waitForBoot(this.crun, spec.id, join(dir, "state", "init.log"));
      return { ipAddress };
    } catch (err) {
      // All settle first: a holder still starting must be ended (its netns, and a veth in it, go
      // with it), and neither the policy nor the veth may be made after destroy's detach.
      await premadeNet?.catch(() => undefined);
      (userns ?? (await pendingUserns?.catch(() => undefined)))?.release();
      await policy?.catch(() => undefined);
      await this.destroy(spec.id, spec.netSlot).catch(() => undefined);
      throw err;
    }
  }

  /**
   * The veth of a networked sandbox wired into the netns its user namespace's holder made, once the
   * slot's policy is loaded; its address. Undefined when the helper made no netns (crun makes it,
   * and the veth is attached after `crun create`).
   */
  private async wirePremadeNet(
    spec: SandboxSpec,
    userns: Promise<UsernsOwner>,
    policy: Promise<void>,
  ): Promise<string | undefined> {
    const owner = await userns;
    if (!owner.netPath) return undefined;
    await policy;
    return (await this.o.network.attach(spec.id, spec.netSlot!, owner.pid, spec.egress, { policyLoaded: true }))
      .ipAddress;
  }

  /** The slot's egress policy, once the slot's last sandbox is torn down. */
  private async loadPolicyWhenFree(id: string, slot: number, egress: EgressPolicy | undefined): Promise<void> {
    await this.teardowns.slotFree(slot);
    await this.o.network.loadPolicy(id, slot, egress);
  }

  private usernsHelper(): string {
    return this.o.usernsHelper ?? join(dirname(this.o.idmapHelper), "sbx-userns");
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
    return this.agents?.has(id) === true;
  }

  async captureQuiet<T>(id: string, consume: (layer: LayerSource) => Promise<T>): Promise<T> {
    const agents = this.agents;
    if (!agents?.has(id)) throw new SbxError("internal", `sandbox ${id} has no agent to quiesce it`);
    const run = (argv: string[]) =>
      agents.run(
        id,
        { argv, env: [], cwd: "/", user: "0:0" },
        () => undefined,
        () => undefined,
      );
    await quiesce(id, { run, cgroupVersion: this.o.cgroupVersion, cgroupParent: this.cgroupParent });
    return consume({ kind: "directory", path: join(this.known(id), "rw", "upper") });
  }

  async thaw(id: string): Promise<void> {
    const s = await this.crun.state(id);
    if (s?.status === "paused") await mustRun(this.crun.binary, ["--root", this.o.crunRoot, "resume", id]);
  }

  async resolveUser(id: string, user: string): Promise<string> {
    this.known(id);
    const agents = this.agents;
    if (!agents?.has(id)) return resolveUser(this.crun, id, user);
    return resolveUser(this.crun, id, user, (argv) => agents.capture(id, argv));
  }

  async run(
    id: string,
    spec: Omit<ProcessSpec, "stdin">,
    onOutput: (stream: "stdout" | "stderr", data: Buffer) => void,
    signal?: AbortSignal,
  ): Promise<number> {
    this.known(id);
    // Stopping the sandbox on abort, as below: a killed step's background children would hold its output open.
    if (this.agents?.has(id))
      return this.agents.run(id, spec, onOutput, () => void this.crun.delete(id).catch(() => undefined), signal);
    return new Promise((resolve, reject) => {
      const child = spawn(
        this.crun.binary,
        this.crun.execArgv(id, spec.argv, { env: spec.env, cwd: spec.cwd, user: spec.user }),
        { stdio: ["ignore", "pipe", "pipe"] },
      );
      child.stdout.on("data", (b: Buffer) => onOutput("stdout", b));
      child.stderr.on("data", (b: Buffer) => onOutput("stderr", b));
      // Killing crun exec alone leaves the command running (and holding the pipes): stop the sandbox.
      const abort = (): void => {
        child.kill("SIGKILL");
        void this.crun.delete(id).catch(() => undefined);
      };
      signal?.addEventListener("abort", abort, { once: true });
      child.on("error", reject);
      child.on("close", (code, sig) => {
        signal?.removeEventListener("abort", abort);
        resolve(code ?? (sig ? 137 : 1));
      });
    });
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

  async startProcess(id: string, procId: string, spec: ProcessSpec): Promise<ProcessHandle> {
    const files = this.processFiles(id, procId);
    if (this.agents?.has(id)) return this.agents.startProcess(id, procId, spec, files);
    const launched = await launchProcess(
      this.crun,
      id,
      spec.argv,
      { env: spec.env, cwd: spec.cwd, user: spec.user },
      files,
      spec.stdin,
    );
    return new SupervisedProcess(id, procId, files, launched.stdinFd, launched.exited);
  }

  async attachProcess(id: string, procId: string): Promise<ProcessHandle> {
    const files = this.processFiles(id, procId);
    if (this.agents?.has(id)) return this.agents.attachProcess(id, procId, files);
    if (!processExists(files))
      throw new SbxError("process_not_found", `process ${procId} does not exist in sandbox ${id}`);
    // Its stdin writer was the daemon that started it: gone, and with it the process's stdin.
    return new SupervisedProcess(id, procId, files, null);
  }

  async outputUsage(id: string): Promise<number> {
    return logsUsage(join(this.known(id), "logs"));
  }

  async discardOutput(id: string, procId: string): Promise<void> {
    return discardOutput(this.processFiles(id, procId));
  }

  private processFiles(id: string, procId: string) {
    const dir = this.known(id);
    return processFiles(join(dir, "logs"), join(dir, "state"), procId);
  }

  openTerminal(id: string, termId: string, spec: TerminalSpec): TerminalHandle {
    this.known(id);
    if (this.agents?.has(id)) {
      const handle = this.agents.openTerminal(id, termId, spec);
      const state = join(this.dir(id), "state");
      // Kept for a restarted daemon (the agent keeps the terminal running); gone once it ends.
      const saved = saveTerminalRecord(state, termId, spec.record ?? null).catch(() => undefined);
      handle.onExit(() => void saved.then(() => dropTerminalRecord(state, termId)).catch(() => undefined));
      return handle;
    }
    return openPtyExec(this.crun, id, spec.argv, {
      env: spec.env,
      cwd: spec.cwd,
      user: spec.user,
      cols: spec.cols,
      rows: spec.rows,
      files: this.processFiles(id, termId),
    });
  }

  async adoptTerminals(id: string) {
    this.known(id);
    const agents = this.agents;
    if (!agents?.has(id) || !(await agents.speaks(id, FILES_VERSION))) return [];
    const state = join(this.dir(id), "state");
    return (await loadTerminalRecords(state)).map(({ termId, record }) => {
      const handle = agents.attachTerminal(id, termId);
      handle.onExit(() => void dropTerminalRecord(state, termId).catch(() => undefined));
      return { termId, record, handle };
    });
  }

  /** The agent's file operations when the sandbox's agent speaks them; busybox via crun exec otherwise. */
  private async files(id: string): Promise<SandboxFiles | AgentFiles> {
    if (this.agentFiles && this.agents?.has(id) && (await this.agents.speaks(id, FILES_VERSION)))
      return this.agentFiles;
    return this.crunFiles;
  }

  async readFile(id: string, path: string): Promise<Buffer> {
    this.known(id);
    return (await this.files(id)).read(id, path);
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
