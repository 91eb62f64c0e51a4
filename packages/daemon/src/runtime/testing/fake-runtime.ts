// SandboxRuntime in memory, for unit tests of services without root or crun: sandboxes are
// records with a FakeFs over their lowers (in-memory trees or real layer dirs, ./fake-layers.ts),
// processes are JS programs (./fake-exec.ts, ./fake-programs.ts), layers export as tar streams.
// It keeps the runtime contract (runtime.conformance.ts runs against it) and lets tests look
// inside (`sandboxes`), add programs, make calls fail (`failures`) and simulate a daemon restart
// (`restart()`: stdin writers and terminals are gone, processes keep running).
import { FakeVolumeDisks } from "./fake-volume-disks.js";
import { Readable } from "node:stream";
import { SbxError } from "@sbx-sh/protocol";
import type { SandboxRuntime } from "../runtime.js";
import { pageOf, type DirectoryPage, type PageRequest } from "../directory-page.js";
import { assertSandboxPath } from "../sandbox-path.js";
import { contentOf, type FileContent } from "../file-content.js";
import { numericUser, splitUser, unknownUser } from "../user-resolve.js";
import {
  HELPER_BUSYBOX,
  HELPER_DIR,
  type EgressPolicy,
  type LayerSource,
  type ProcessHandle,
  type ProcessSpec,
  type RuntimeCapabilities,
  type SandboxSpec,
  type SandboxStats,
  type TerminalHandle,
  type TerminalSpec,
} from "../types.js";
import { baseTree, FAKE_BASE } from "./fake-base.js";
import { archiveOf, collect, extractInto } from "./fake-archive.js";
import { spawnProgram } from "./fake-exec.js";
import { dirNode, FakeFs, fileNode, type FakeTree } from "./fake-fs.js";
import { stackLowers } from "./fake-layers.js";
import type { FakeProcess, FakeProgram } from "./fake-process.js";
import { defaultPrograms } from "./fake-programs.js";
import { FakeTerminal } from "./fake-terminal.js";
import { writeTar } from "./memory-tar.js";

export { FAKE_BASE };

export interface FakeSandbox {
  spec: SandboxSpec;
  running: boolean;
  frozen: boolean;
  fs: FakeFs;
  processes: Map<string, FakeProcess>;
  terminals: Set<FakeTerminal>;
  ipAddress: string | null;
}

export class FakeRuntime implements SandboxRuntime {
  readonly name = "fake";
  capabilities: RuntimeCapabilities = {
    memorySnapshots: { supported: false, reason: "the fake runtime keeps no process memory" },
    liveCapture: true,
    userNamespaces: true,
  };
  readonly sandboxes = new Map<string, FakeSandbox>();
  /** Volumes' disks as entries of a map; a sandbox's spec.volumes says what it mounted. */
  readonly volumes = new FakeVolumeDisks();
  readonly programs = defaultPrograms();
  /** Lower dirs a sandbox may name, as trees; others are read from disk (a LayerStore's), or empty. */
  readonly layers = new Map<string, FakeTree>([[FAKE_BASE, baseTree(this.programs.keys())]]);
  /** `failures.set("create", err)`: the next call of that method throws err (once). */
  readonly failures = new Map<string, Error>();
  /** Every lifecycle call, as "method id", for tests that check what a service asked for. */
  readonly calls: string[] = [];
  /** Bytes of process output a sandbox holds before outputUsage() says it is full. */
  outputCapacity = 64 * 1024 * 1024;
  /** Network slots (0 .. netSlotCapacity-1); the store allocates them. */
  netSlotCapacity = 64;
  /** `craftedArchives.set(path, tar)`: createArchive of that path answers these bytes (hostile tars for clients). */
  readonly craftedArchives = new Map<string, Buffer>();

  /** Adds a program (a binary at /usr/bin/<name> of the base layer) that sandboxes can run. */
  addProgram(name: string, program: FakeProgram): void {
    this.programs.set(name, program);
    this.layers.get(FAKE_BASE)!.set(`/usr/bin/${name}`, fileNode(`fake program ${name}\n`, 0o755));
  }

  /** What a daemon restart does to sandboxes: stdin writers and terminals were the daemon's; processes run on. */
  restart(): void {
    for (const sb of this.sandboxes.values()) {
      for (const p of sb.processes.values()) void p.closeStdin();
      for (const t of sb.terminals) void t.kill();
    }
  }

  private fail(method: string, id: string): void {
    this.calls.push(`${method} ${id}`);
    const err = this.failures.get(method);
    if (err) {
      this.failures.delete(method);
      throw err;
    }
  }

  private known(id: string): FakeSandbox {
    const sb = this.sandboxes.get(id);
    if (!sb) throw new SbxError("sandbox_not_found", `sandbox ${id} does not exist in the fake runtime`);
    return sb;
  }

  private running(id: string): FakeSandbox {
    const sb = this.known(id);
    if (!sb.running) throw new SbxError("runtime_error", `sandbox ${id} is not running`);
    return sb;
  }

  async create(spec: SandboxSpec): Promise<{ ipAddress: string | null }> {
    this.fail("create", spec.id);
    if (this.sandboxes.has(spec.id)) throw new SbxError("runtime_error", `sandbox ${spec.id} already exists`);
    for (const v of spec.volumes ?? [])
      if (!this.volumes.disks.has(v.volumeId)) throw new SbxError("runtime_error", `no disk for volume ${v.volumeId}`);
    const fs = new FakeFs([stackLowers(spec.lowers, this.layers)]);
    fs.put(HELPER_DIR, dirNode(0o755));
    fs.put(HELPER_BUSYBOX, fileNode("fake busybox\n", 0o755));
    const ipAddress = spec.netSlot === null ? null : this.ipOf(spec.netSlot);
    this.sandboxes.set(spec.id, {
      spec,
      running: true,
      frozen: false,
      fs,
      processes: new Map(),
      terminals: new Set(),
      ipAddress,
    });
    return { ipAddress };
  }

  private ipOf(slot: number): string {
    const n = slot * 4 + 2;
    return `10.89.${n >> 8}.${n & 255}`;
  }

  async reconfigure(from: SandboxSpec, to: SandboxSpec): Promise<{ ipAddress: string | null }> {
    this.fail("reconfigure", to.id);
    const sb = this.running(from.id);
    sb.spec = { ...to, lowers: from.lowers };
    sb.ipAddress = to.netSlot === null ? null : this.ipOf(to.netSlot);
    return { ipAddress: sb.ipAddress };
  }

  async destroy(id: string, _netSlot: number | null): Promise<void> {
    this.fail("destroy", id);
    const sb = this.sandboxes.get(id);
    if (!sb) return;
    this.stopAll(sb);
    this.sandboxes.delete(id);
  }

  private stopAll(sb: FakeSandbox): void {
    sb.running = false;
    for (const p of sb.processes.values()) p.terminate();
    for (const t of sb.terminals) void t.kill();
  }

  async updateEgress(id: string, _netSlot: number, policy: EgressPolicy): Promise<void> {
    this.fail("updateEgress", id);
    this.running(id).spec.egress = policy;
  }

  /** `usage.set(id, { cpuUsec: … })`: what stats() reports for that sandbox (zeros otherwise). */
  readonly usage = new Map<string, Partial<SandboxStats>>();

  async stats(id: string, _netSlot: number | null): Promise<SandboxStats> {
    const sb = this.sandboxes.get(id);
    return {
      cpuUsec: 0,
      memoryBytes: 0,
      memoryLimitBytes: sb ? sb.spec.memoryMb * 1024 * 1024 : null,
      pids: sb?.running ? 1 + sb.processes.size : 0,
      diskBytes: 0,
      diskLimitBytes: sb ? sb.spec.diskMb * 1024 * 1024 : null,
      netRxBytes: 0,
      netTxBytes: 0,
      ...this.usage.get(id),
    };
  }

  async isRunning(id: string): Promise<boolean> {
    return this.sandboxes.get(id)?.running === true;
  }

  async exportLayer<T>(id: string, opts: { live: boolean }, consume: (layer: LayerSource) => Promise<T>): Promise<T> {
    this.fail("exportLayer", id);
    const sb = this.known(id);
    const layer = (): LayerSource => ({ kind: "tar", stream: Readable.from([writeTar(sb.fs.exportUpper())]) });
    if (!opts.live) {
      this.stopAll(sb);
      return consume(layer());
    }
    if (!sb.running) throw new SbxError("runtime_error", `sandbox ${id} is not running`);
    sb.frozen = true;
    try {
      return await consume(layer());
    } finally {
      sb.frozen = false;
    }
  }

  async thaw(id: string): Promise<void> {
    const sb = this.sandboxes.get(id);
    if (sb) sb.frozen = false;
  }

  async resolveUser(id: string, user: string): Promise<string> {
    const sb = this.running(id);
    const numeric = numericUser(user);
    if (numeric !== undefined) return numeric;
    const [u, g] = splitUser(user);
    const field = (file: string, name: string, col: number): string | undefined => {
      const text = sb.fs.stat(file)?.type === "file" ? sb.fs.readFile(file).toString() : "";
      return text
        .split("\n")
        .map((l) => l.split(":"))
        .find((f) => f[0] === name)?.[col];
    };
    const uid = /^\d+$/.test(u) ? u : field("/etc/passwd", u, 2);
    const gid = g === undefined ? (field("/etc/passwd", u, 3) ?? "0") : /^\d+$/.test(g) ? g : field("/etc/group", g, 2);
    if (uid === undefined || gid === undefined) throw unknownUser(user);
    return `${uid}:${gid}`;
  }

  async run(
    id: string,
    spec: Omit<ProcessSpec, "stdin">,
    onOutput: (stream: "stdout" | "stderr", data: Buffer) => void,
    signal?: AbortSignal,
  ): Promise<number> {
    this.fail("run", id);
    const sb = this.running(id);
    const p = this.spawn(sb, `run-${Math.random().toString(36).slice(2)}`, { ...spec, stdin: false }, onOutput);
    // As with crun, cancelling a run stops the whole (build) sandbox.
    const abort = (): void => this.stopAll(sb);
    signal?.addEventListener("abort", abort, { once: true });
    try {
      return await p.done;
    } finally {
      signal?.removeEventListener("abort", abort);
    }
  }

  async cleanupLeaks(liveIds: Set<string>, _liveSlots: Set<number>): Promise<string[]> {
    const removed: string[] = [];
    for (const [id, sb] of this.sandboxes) {
      if (liveIds.has(id)) continue;
      this.stopAll(sb);
      this.sandboxes.delete(id);
      removed.push(`container ${id}`);
    }
    return removed;
  }

  private spawn(
    sb: FakeSandbox,
    procId: string,
    spec: ProcessSpec,
    onOutput?: (stream: "stdout" | "stderr", data: Buffer) => void,
  ): FakeProcess {
    const p = spawnProgram(sb.spec.id, sb.fs, this.programs, procId, spec, onOutput);
    sb.processes.set(procId, p);
    return p;
  }

  async startProcess(id: string, procId: string, spec: ProcessSpec): Promise<ProcessHandle> {
    this.fail("startProcess", id);
    const sb = this.running(id);
    if (sb.processes.has(procId)) throw new SbxError("runtime_error", `process ${procId} already exists`);
    return this.spawn(sb, procId, spec);
  }

  async attachProcess(id: string, procId: string): Promise<ProcessHandle> {
    const p = this.known(id).processes.get(procId);
    if (!p) throw new SbxError("process_not_found", `process ${procId} does not exist in sandbox ${id}`);
    return p.attachHandle();
  }

  async outputUsage(id: string): Promise<number> {
    const bytes = [...this.known(id).processes.values()].reduce((a, p) => a + p.outputBytes, 0);
    return Math.min(1, bytes / this.outputCapacity);
  }

  async discardOutput(id: string, procId: string): Promise<void> {
    this.known(id).processes.get(procId)?.discardOutput();
  }

  async forgetProcess(id: string, procId: string): Promise<void> {
    const sb = this.known(id);
    // Like crun: files go, a process still running stays (the daemon forgets ended ones only).
    const p = sb.processes.get(procId);
    if (!p || (await p.exitCode()) === undefined) return;
    p.discardOutput();
    sb.processes.delete(procId);
  }

  openTerminal(id: string, termId: string, spec: TerminalSpec): TerminalHandle {
    const sb = this.running(id);
    const t = new FakeTerminal(spec.cols, spec.rows, (onOutput) =>
      this.spawn(sb, termId, { ...spec, stdin: true }, (_stream, data) => onOutput(data)),
    );
    sb.terminals.add(t);
    return t;
  }

  async readFile(id: string, path: string): Promise<FileContent> {
    assertSandboxPath(path);
    return contentOf(this.running(id).fs.readFile(path));
  }

  async writeFile(id: string, path: string, data: Readable): Promise<void> {
    assertSandboxPath(path);
    const sb = this.running(id);
    sb.fs.writeFile(path, await collect(data));
  }

  async listDirectory(id: string, path: string, page: PageRequest): Promise<DirectoryPage> {
    assertSandboxPath(path);
    return pageOf(this.running(id).fs.list(path), page);
  }

  async deleteFile(id: string, path: string, recursive: boolean): Promise<void> {
    assertSandboxPath(path);
    this.running(id).fs.remove(path, recursive);
  }

  async extractArchive(id: string, dir: string, archive: Readable): Promise<void> {
    assertSandboxPath(dir);
    await extractInto(this.running(id).fs, dir, archive);
  }

  async createArchive(id: string, path: string): Promise<Readable> {
    assertSandboxPath(path);
    const sb = this.running(id);
    const crafted = this.craftedArchives.get(path);
    if (crafted) return Readable.from([crafted]);
    return archiveOf(sb.fs, path);
  }
}
