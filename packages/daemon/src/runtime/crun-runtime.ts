// SandboxRuntime on crun: overlay root on a size-capped tmpfs, user namespace, cgroup limits,
// seccomp, an optional veth+NAT network attached between `crun create` and `crun start`, and
// processes under detached supervisors so they survive a daemon restart.
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { mustRun } from "../common/command.js";
import { Crun } from "./crun.js";
import { spawn } from "node:child_process";
import { SbxError } from "@sbx-sh/protocol";
import { BUSYBOX_PATH, buildOciConfig } from "./oci-config.js";
import { isOpenPolicy, type EgressPolicy } from "../domain/egress-policy.js";
import { NetworkManager } from "./network.js";
import { launchProcess, processFiles, type LaunchedProcess, type ProcessFiles } from "./process-supervisor.js";
import { openPtyExec, type HostTerminal } from "./pty-exec.js";
import type { ProcessSpec, SandboxRuntime, SandboxSpec } from "./runtime.js";
import { SandboxFiles, type RawEntry } from "./sandbox-files.js";
import { inodesFor, prepareSnapshot, removeSnapshot, mountsUnder } from "../layers/overlay.js";

export interface CrunRuntimeOptions {
  /** Where each sandbox's bundle, mounts and process state live: `<sandboxesDir>/<id>`. */
  sandboxesDir: string;
  crunRoot: string;
  uidBase: number;
  uidCount: number;
  initPath: string;
  busyboxPath: string;
  network: NetworkManager;
  nofile: number;
  cgroupVersion: 1 | 2;
  logsSizeMb?: number;
}

export class CrunRuntime implements SandboxRuntime {
  readonly name = "crun";
  readonly crun: Crun;
  private readonly files: SandboxFiles;
  private readonly limitSwap: boolean;

  constructor(private readonly o: CrunRuntimeOptions) {
    this.crun = new Crun(o.crunRoot);
    this.files = new SandboxFiles(this.crun);
    // Without swap accounting (cgroup v1 without memsw) crun refuses a swap limit.
    this.limitSwap = o.cgroupVersion === 2 || existsSync("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes");
  }

  private dir(id: string): string {
    return join(this.o.sandboxesDir, id);
  }

  async create(spec: SandboxSpec): Promise<{ ipAddress: string | null }> {
    const dir = this.dir(spec.id);
    try {
      // Output logs get their own small tmpfs: a sandbox that fills its disk can still be inspected.
      const hostIds = spec.hostIds === true || spec.systemd === true;
      const snap = await prepareSnapshot(dir, spec.lowers, {
        sizeMb: spec.diskMb,
        uidBase: hostIds ? 0 : this.o.uidBase,
        scratch: [{ name: "logs", sizeMb: this.o.logsSizeMb ?? 64 }],
        busybox: this.o.busyboxPath,
      });
      await mkdir(join(dir, "state"), { mode: 0o700 });
      const resolvConf = join(dir, "resolv.conf");
      await writeFile(resolvConf, spec.netSlot === null ? "" : this.o.network.resolvConf(), { mode: 0o644 });
      const config = buildOciConfig({
        id: spec.id,
        rootfs: snap.rootfs,
        hostname: spec.hostname,
        init: spec.init,
        env: spec.env,
        cwd: spec.workingDir,
        uidBase: this.o.uidBase,
        uidCount: this.o.uidCount,
        cpus: spec.cpus,
        memoryMb: spec.memoryMb,
        pidsLimit: spec.pidsLimit,
        limitSwap: this.limitSwap,
        nofile: this.o.nofile,
        cgroupsPath: `/sbx/${spec.id}`,
        initPath: this.o.initPath,
        busyboxPath: this.o.busyboxPath,
        helperDirMb: spec.diskMb,
        resolvConf,
        systemd: spec.systemd,
        hostIds,
      });
      await writeFile(join(dir, "config.json"), JSON.stringify(config), { mode: 0o600 });
      const pidFile = join(dir, "state", "init.pid");
      const logFile = join(dir, "state", "init.log");
      let ipAddress: string | null = null;
      let pid: number;
      if (spec.netSlot === null) {
        pid = await this.crun.create(spec.id, dir, pidFile, logFile, { start: true });
      } else {
        // The veth goes into the sandbox's own network namespace between create and start.
        pid = await this.crun.create(spec.id, dir, pidFile, logFile);
        ipAddress = (await this.o.network.attach(spec.id, spec.netSlot, pid, spec.egress)).ipAddress;
        await this.crun.start(spec.id);
      }
      await this.crun.untilInitExecs(pid);
      if (spec.systemd) await this.waitForBoot(spec.id);
      return { ipAddress };
    } catch (err) {
      await this.destroy(spec.id, spec.netSlot).catch(() => undefined);
      throw err;
    }
  }

  async reconfigure(from: SandboxSpec, to: SandboxSpec): Promise<{ ipAddress: string | null }> {
    const dir = this.dir(to.id);
    if (to.cpus !== from.cpus || to.memoryMb !== from.memoryMb || to.pidsLimit !== from.pidsLimit) {
      const memory = String(to.memoryMb * 1024 * 1024);
      await mustRun(this.crun.binary, [
        "--root",
        this.o.crunRoot,
        "update",
        `--memory=${memory}`,
        ...(this.limitSwap ? [`--memory-swap=${memory}`] : []),
        `--cpu-quota=${Math.round(to.cpus * 100_000)}`,
        "--cpu-period=100000",
        `--pids-limit=${to.pidsLimit}`,
        to.id,
      ]);
    }
    if (to.diskMb !== from.diskMb)
      await mustRun("mount", ["-o", `remount,size=${to.diskMb}m,nr_inodes=${inodesFor(to.diskMb)}`, join(dir, "rw")]);
    if (to.netSlot === null) return { ipAddress: null };
    // A networked blank: its veth is up with an open policy; only a narrower policy is left to apply.
    if (from.netSlot === to.netSlot) {
      if (!isOpenPolicy(to.egress)) await this.o.network.setEgress(to.id, to.netSlot, to.egress!);
      return { ipAddress: this.o.network.networkFor(to.netSlot).ipAddress };
    }
    // Rewritten in place: the sandbox sees this very inode through its bind mount.
    await writeFile(join(dir, "resolv.conf"), this.o.network.resolvConf());
    const pid = Number((await readFile(join(dir, "state", "init.pid"), "utf8")).trim());
    return { ipAddress: (await this.o.network.attach(to.id, to.netSlot, pid, to.egress)).ipAddress };
  }

  /** A systemd sandbox is usable once systemd has finished booting (running or degraded). */
  private async waitForBoot(id: string): Promise<void> {
    const until = Date.now() + 60_000;
    let last = "";
    while (Date.now() < until) {
      // Until systemd has opened its bus, systemctl fails at once; then --wait blocks until boot ends.
      const r = await this.crun.exec(id, ["systemctl", "is-system-running", "--wait"], {
        env: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
        cwd: "/",
        user: "0:0",
        timeoutMs: 60_000,
      });
      last = r.stdout.toString().trim() || r.stderr.trim();
      if (last === "running" || last === "degraded") return;
      if (!(await this.isRunning(id))) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    const log = (await readFile(join(this.dir(id), "state", "init.log"), "utf8").catch(() => ""))
      .trim()
      .split("\n")
      .slice(-5)
      .join(" | ");
    throw new SbxError("runtime_error", `systemd did not finish booting (${last}): ${log || "no output"}`);
  }

  async destroy(id: string, netSlot: number | null): Promise<void> {
    await this.crun.delete(id);
    // Deleting a veth is slow kernel work (~20 ms): do it while the mounts come down.
    await Promise.all([
      netSlot !== null ? this.o.network.detach(id, netSlot) : undefined,
      removeSnapshot(this.dir(id)),
    ]);
  }

  async updateEgress(id: string, netSlot: number, policy: EgressPolicy): Promise<void> {
    await this.o.network.setEgress(id, netSlot, policy);
  }

  async capture<T>(id: string, capture: (upperDir: string) => Promise<T>): Promise<T> {
    await this.crun.delete(id);
    return capture(join(this.dir(id), "rw", "upper"));
  }

  async captureLive<T>(id: string, capture: (upperDir: string) => Promise<T>): Promise<T> {
    await mustRun(this.crun.binary, ["--root", this.o.crunRoot, "pause", id]);
    try {
      return await capture(join(this.dir(id), "rw", "upper"));
    } finally {
      await this.thaw(id);
    }
  }

  async thaw(id: string): Promise<void> {
    const s = await this.crun.state(id);
    if (s?.status === "paused") await mustRun(this.crun.binary, ["--root", this.o.crunRoot, "resume", id]);
  }

  async resolveUser(id: string, user: string): Promise<string> {
    if (user === "root") return "0:0";
    const m = /^([^:]+)(?::(.+))?$/.exec(user);
    if (!m)
      throw new SbxError("invalid_argument", `invalid user ${JSON.stringify(user)}: use root, uid, uid:gid or a name`);
    const [, u, g] = m;
    if (/^\d+$/.test(u!) && (g === undefined || /^\d+$/.test(g))) return g === undefined ? `${u}:0` : `${u}:${g}`;
    // Names are looked up in the sandbox's own /etc/passwd and /etc/group, by its busybox.
    const script = [
      'case "$1" in *[!0-9]*) u=$(id -u -- "$1") || exit 1;; *) u=$1;; esac',
      'if [ -z "$2" ]; then g=$(id -g -- "$1" 2>/dev/null || echo 0)',
      'else case "$2" in *[!0-9]*) g=$(grep "^$2:" /etc/group | cut -d: -f3);; *) g=$2;; esac; fi',
      '[ -n "$g" ] && echo "$u:$g"',
    ].join("\n");
    const r = await this.crun.exec(id, [BUSYBOX_PATH, "sh", "-c", script, "sh", u!, g ?? ""], {
      env: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
      cwd: "/",
      user: "0:0",
    });
    const out = r.stdout.toString().trim();
    if (r.code !== 0 || !/^\d+:\d+$/.test(out))
      throw new SbxError(
        "invalid_argument",
        `user ${JSON.stringify(user)} does not exist in the sandbox: create it first (useradd) or use a numeric uid`,
      );
    return out;
  }

  run(
    id: string,
    spec: Omit<ProcessSpec, "stdin">,
    onOutput: (stream: "stdout" | "stderr", data: Buffer) => void,
    signal?: AbortSignal,
  ): Promise<number> {
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
    const s = await this.crun.state(id);
    return s !== undefined && (s.status === "running" || s.status === "created" || s.status === "paused");
  }

  get netSlotCapacity(): number {
    return this.o.network.capacity;
  }

  async cleanupLeaks(liveIds: Set<string>, liveSlots: Set<number>): Promise<string[]> {
    const removed: string[] = [];
    for (const id of await this.crun.list()) {
      if (!liveIds.has(id)) {
        await this.crun.delete(id);
        removed.push(`container ${id}`);
      }
    }
    const dirs = await readdir(this.o.sandboxesDir).catch(() => [] as string[]);
    for (const id of dirs) {
      if (liveIds.has(id)) continue;
      const mounts = await mountsUnder(this.dir(id));
      await removeSnapshot(this.dir(id));
      removed.push(`sandbox dir ${id}${mounts.length ? ` (${mounts.length} mounts)` : ""}`);
    }
    removed.push(...(await this.removeStaleCgroups(liveIds)));
    const veths = await this.o.network.cleanupLeaks(liveSlots);
    if (veths > 0) removed.push(`${veths} network interfaces`);
    return removed;
  }

  /**
   * Empty sandbox cgroups whose container is gone. rmdir only succeeds on a cgroup without
   * processes, so a live sandbox of another daemon sharing the /sbx parent is never touched.
   */
  private async removeStaleCgroups(liveIds: Set<string>): Promise<string[]> {
    const parents =
      this.o.cgroupVersion === 2
        ? ["/sys/fs/cgroup/sbx"]
        : (await readdir("/sys/fs/cgroup").catch(() => [] as string[])).map((c) => `/sys/fs/cgroup/${c}/sbx`);
    const removed = new Set<string>();
    for (const parent of parents) {
      for (const id of await readdir(parent).catch(() => [] as string[])) {
        if (liveIds.has(id) || !/^(sb|bld)-/.test(id)) continue;
        if (
          await rmdir(join(parent, id)).then(
            () => true,
            () => false,
          )
        )
          removed.add(id);
      }
    }
    return [...removed].map((id) => `cgroup ${id}`);
  }

  startProcess(id: string, procId: string, spec: ProcessSpec): Promise<LaunchedProcess> {
    return launchProcess(
      this.crun,
      id,
      spec.argv,
      { env: spec.env, cwd: spec.cwd, user: spec.user },
      this.processFiles(id, procId),
      spec.stdin,
    );
  }

  processFiles(id: string, procId: string): ProcessFiles {
    return processFiles(join(this.dir(id), "logs"), join(this.dir(id), "state"), procId);
  }

  openTerminal(
    id: string,
    termId: string,
    spec: Omit<ProcessSpec, "stdin"> & { cols: number; rows: number },
  ): HostTerminal {
    return openPtyExec(this.crun, id, spec.argv, {
      env: spec.env,
      cwd: spec.cwd,
      user: spec.user,
      cols: spec.cols,
      rows: spec.rows,
      files: this.processFiles(id, termId),
    });
  }

  readFile(id: string, path: string): Promise<Buffer> {
    return this.files.read(id, path);
  }
  writeFile(id: string, path: string, data: Buffer): Promise<void> {
    return this.files.write(id, path, data);
  }
  listDirectory(id: string, path: string): Promise<RawEntry[]> {
    return this.files.list(id, path);
  }
  deleteFile(id: string, path: string, recursive: boolean): Promise<void> {
    return this.files.remove(id, path, recursive);
  }
  extractArchive(id: string, dir: string, tarball: Buffer, gzip: boolean): Promise<void> {
    return this.files.extractArchive(id, dir, tarball, gzip);
  }
  createArchive(id: string, path: string): Promise<Readable> {
    return this.files.createArchive(id, path);
  }
}
