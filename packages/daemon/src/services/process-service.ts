// Processes in sandboxes: start in the background, follow output, wait for the exit code, send
// signals, feed stdin, time out. State is in the store and in files the supervisors write, so
// a restarted daemon adopts processes that kept running while it was away.
import { EventEmitter } from "node:events";
import { dirname } from "node:path";
import { SbxError } from "@sbx-sh/protocol";
import { newId } from "@sbx-sh/protocol";
import type { StartProcess } from "../domain/commands.js";
import type { ProcessOutputEvent } from "../domain/records.js";
import {
  assertSignal,
  closeStdin,
  pidBelongsTo,
  readChunk,
  readExitCode,
  readHostPid,
  writeStdin,
} from "../runtime/process-supervisor.js";
import type { ProcessFiles } from "../runtime/process-supervisor.js";
import type { SandboxRuntime } from "../runtime/runtime.js";
import type { Store } from "../store/store.js";
import type { ProcessRecord, SandboxRecord } from "../domain/records.js";
import { assertExecFits, mergeEnv } from "@sbx-sh/protocol";
import { pruneLogs, type ExitedLogs } from "./log-retention.js";
import type { Logger } from "../common/log.js";
import type { SandboxEvents } from "./sandbox-events.js";
import type { SandboxService } from "./sandbox-service.js";

const FOLLOW_POLL_MS = 20;
const ADOPT_POLL_MS = 100;

export class ProcessService {
  private readonly exits = new EventEmitter();
  private readonly stdinFds = new Map<string, number>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly adopted = new Set<string>();
  /** Processes whose output someone is reading right now: their logs are never pruned. */
  private readonly reading = new Map<string, number>();
  private adoptTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: Store,
    private readonly runtime: SandboxRuntime,
    private readonly sandboxes: SandboxService,
    events: SandboxEvents,
    private readonly log: Logger,
  ) {
    this.exits.setMaxListeners(0);
    events.onGone((s) => this.sandboxEnded(s));
  }

  async start(project: string, sandboxIdOrName: string, req: StartProcess): Promise<ProcessRecord> {
    const sb = await this.sandboxes.getRunning(project, sandboxIdOrName);
    if (req.workingDir !== undefined && !req.workingDir.startsWith("/"))
      throw new SbxError("invalid_path", `workingDir ${JSON.stringify(req.workingDir)} must be an absolute path`);
    // Names (an image's `user("app")`) are looked up in the sandbox's own /etc/passwd.
    const user = await this.runtime.resolveUser(sb.id, req.user ?? sb.config.user);
    const env = mergeEnv(sb.config.env, { ...sb.env, ...(req.env ?? {}) });
    assertExecFits([req.command, ...(req.args ?? [])], env);
    const now = new Date();
    const rec: ProcessRecord = {
      id: newId("pr"),
      sandboxId: sb.id,
      command: req.command,
      args: req.args ?? [],
      status: "running",
      exitCode: null,
      signal: null,
      timedOut: false,
      stdin: req.stdin ?? false,
      hostPid: null,
      deadline: req.timeoutSecs ? new Date(now.getTime() + req.timeoutSecs * 1000).toISOString() : null,
      startedAt: now.toISOString(),
      endedAt: null,
    };
    await this.pruneLogs(sb.id);
    await this.store.insertProcess(rec);
    try {
      const launched = await this.runtime.startProcess(sb.id, rec.id, {
        argv: [req.command, ...rec.args],
        env,
        cwd: req.workingDir ?? sb.config.workingDir,
        user,
        stdin: rec.stdin,
      });
      if (launched.stdinFd !== null) this.stdinFds.set(rec.id, launched.stdinFd);
      void launched.exited.then(() => this.finish(sb.id, rec.id));
    } catch (err) {
      await this.store.updateProcess(rec.id, { status: "exited", exitCode: null, endedAt: new Date().toISOString() });
      throw err;
    }
    if (rec.deadline) this.armTimeout(sb.id, rec.id, Date.parse(rec.deadline) - Date.now());
    return rec;
  }

  async list(project: string, sandboxIdOrName: string): Promise<ProcessRecord[]> {
    return this.store.listProcesses((await this.sandboxes.get(project, sandboxIdOrName)).id);
  }

  async get(project: string, sandboxIdOrName: string, procId: string): Promise<ProcessRecord> {
    const sb = await this.sandboxes.get(project, sandboxIdOrName);
    const p = await this.store.getProcess(sb.id, procId);
    if (!p)
      throw new SbxError(
        "process_not_found",
        `process ${procId} does not exist in sandbox ${sb.id}: list them with GET /v1/sandboxes/${sb.id}/processes`,
      );
    return p;
  }

  async signal(project: string, sandboxIdOrName: string, procId: string, signalName: string): Promise<ProcessRecord> {
    const sig = assertSignal(signalName);
    const p = await this.get(project, sandboxIdOrName, procId);
    if (p.status === "running") await this.sendSignal(p, sig);
    return (await this.store.getProcess(p.sandboxId, p.id))!;
  }

  async writeStdin(project: string, sandboxIdOrName: string, procId: string, data: Buffer): Promise<void> {
    const fd = await this.stdinFd(project, sandboxIdOrName, procId);
    await writeStdin(fd, data);
  }

  async closeStdin(project: string, sandboxIdOrName: string, procId: string): Promise<void> {
    const p = await this.get(project, sandboxIdOrName, procId);
    const fd = this.stdinFds.get(p.id);
    if (fd === undefined) return;
    this.stdinFds.delete(p.id);
    closeStdin(fd);
  }

  private async stdinFd(project: string, sandboxIdOrName: string, procId: string): Promise<number> {
    const p = await this.get(project, sandboxIdOrName, procId);
    if (!p.stdin)
      throw new SbxError("failed_precondition", `process ${p.id} was started without stdin: start it with stdin: true`);
    const fd = this.stdinFds.get(p.id);
    if (fd === undefined || p.status !== "running")
      throw new SbxError("failed_precondition", `stdin of process ${p.id} is closed`);
    return fd;
  }

  /**
   * The process's output as events: everything written so far, then (with `follow`) new output
   * as it comes, ending with the exit event once the process has ended and all output was sent.
   */
  async *output(
    project: string,
    sandboxIdOrName: string,
    procId: string,
    follow: boolean,
    signal?: AbortSignal,
  ): AsyncGenerator<ProcessOutputEvent> {
    const p = await this.get(project, sandboxIdOrName, procId);
    const files = this.runtime.processFiles(p.sandboxId, p.id);
    this.reading.set(p.id, (this.reading.get(p.id) ?? 0) + 1);
    try {
      yield* this.follow(p, files, follow, signal);
    } finally {
      const n = this.reading.get(p.id)! - 1;
      if (n > 0) this.reading.set(p.id, n);
      else this.reading.delete(p.id);
    }
  }

  private async *follow(
    p: ProcessRecord,
    files: ProcessFiles,
    follow: boolean,
    signal?: AbortSignal,
  ): AsyncGenerator<ProcessOutputEvent> {
    let outOff = 0;
    let errOff = 0;
    for (;;) {
      const done = (await this.store.getProcess(p.sandboxId, p.id))!;
      const ended = done.status === "exited";
      // Read both streams to their current end before deciding the process is finished.
      let progressed = true;
      while (progressed) {
        progressed = false;
        const out = await readChunk(files.stdout, outOff);
        if (out.length) {
          outOff += out.length;
          progressed = true;
          yield { type: "stdout", data: out.toString("base64") };
        }
        const err = await readChunk(files.stderr, errOff);
        if (err.length) {
          errOff += err.length;
          progressed = true;
          yield { type: "stderr", data: err.toString("base64") };
        }
      }
      if (ended) {
        yield { type: "exit", exitCode: done.exitCode, signal: done.signal, timedOut: done.timedOut };
        return;
      }
      if (!follow || signal?.aborted) return;
      await this.waitForExitOrTick(p.id, FOLLOW_POLL_MS);
    }
  }

  private async pruneLogs(sandboxId: string): Promise<void> {
    const exited = async (): Promise<ExitedLogs[]> =>
      (await this.store.listProcesses(sandboxId))
        .filter((p) => p.status === "exited" && p.endedAt !== null && !this.reading.has(p.id))
        .map((p) => {
          const f = this.runtime.processFiles(sandboxId, p.id);
          return { endedAt: p.endedAt!, files: [f.stdout, f.stderr] };
        });
    const dir = dirname(this.runtime.processFiles(sandboxId, "_").stdout);
    const pruned = await pruneLogs(dir, exited).catch((err: unknown) => {
      this.log.warn({ sandbox: sandboxId, err }, "pruning output logs failed");
      return 0;
    });
    if (pruned)
      this.log.info(
        { sandbox: sandboxId, pruned },
        "output logs over half full: dropped the oldest exited processes' output",
      );
  }

  private waitForExitOrTick(procId: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        this.exits.off(procId, done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.exits.once(procId, done);
    });
  }

  /** Records the exit code the supervisor wrote and wakes followers. */
  private async finish(sandboxId: string, procId: string): Promise<void> {
    const p = await this.store.getProcess(sandboxId, procId);
    if (!p || p.status === "exited") return;
    const code = await readExitCode(this.runtime.processFiles(sandboxId, procId));
    await this.complete(p, code ?? null);
  }

  private async complete(p: ProcessRecord, exitCode: number | null, signal?: NodeJS.Signals): Promise<void> {
    // Checked and recorded in one transaction: of two completions at once (exit and sandbox end), one wins.
    const completed = await this.store.transaction(async (tx) => {
      const current = await tx.getProcess(p.sandboxId, p.id);
      if (!current || current.status === "exited") return false;
      if (signal) await tx.updateProcess(p.id, { signal });
      // `signal` is only what we sent: an exit code of 137 may as well be the program's own `exit 137`.
      await tx.updateProcess(p.id, { status: "exited", exitCode, endedAt: new Date().toISOString() });
      return true;
    });
    if (!completed) return;
    clearTimeout(this.timers.get(p.id));
    this.timers.delete(p.id);
    this.adopted.delete(p.id);
    const fd = this.stdinFds.get(p.id);
    if (fd !== undefined) {
      this.stdinFds.delete(p.id);
      closeStdin(fd);
    }
    this.exits.emit(p.id);
  }

  private async sendSignal(p: ProcessRecord, sig: NodeJS.Signals): Promise<void> {
    const files = this.runtime.processFiles(p.sandboxId, p.id);
    const pid = await readHostPid(files);
    if (pid === undefined || !(await pidBelongsTo(pid, p.sandboxId))) return;
    try {
      process.kill(pid, sig);
      await this.store.updateProcess(p.id, { signal: sig });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
    }
  }

  private armTimeout(sandboxId: string, procId: string, ms: number): void {
    const t = setTimeout(
      () => {
        const kill = async (): Promise<void> => {
          const p = await this.store.getProcess(sandboxId, procId);
          if (!p || p.status !== "running") return;
          await this.store.updateProcess(procId, { timedOut: true });
          await this.sendSignal(p, "SIGKILL");
        };
        kill().catch((err: unknown) => this.log.warn({ process: procId, err }, "timeout kill failed"));
      },
      Math.max(1, ms),
    );
    t.unref();
    this.timers.set(procId, t);
  }

  private async sandboxEnded(s: SandboxRecord): Promise<void> {
    for (const p of await this.store.listProcesses(s.id)) {
      if (p.status === "running") await this.complete(p, 137, "SIGKILL");
    }
  }

  /** Daemon start: processes of live sandboxes are watched again (exit files, timeouts). */
  async adoptRunning(): Promise<number> {
    for (const p of await this.store.listRunningProcesses()) {
      const sb = await this.store.getSandbox(p.sandboxId);
      if (!sb || sb.status !== "running") continue;
      this.adopted.add(p.id);
      if (p.deadline) this.armTimeout(p.sandboxId, p.id, Date.parse(p.deadline) - Date.now());
    }
    if (this.adopted.size && !this.adoptTimer) {
      this.adoptTimer = setInterval(() => void this.pollAdopted(), ADOPT_POLL_MS);
      this.adoptTimer.unref();
    }
    return this.adopted.size;
  }

  private async pollAdopted(): Promise<void> {
    const running = new Map((await this.store.listRunningProcesses()).map((r) => [r.id, r]));
    for (const id of [...this.adopted]) {
      const p = running.get(id);
      if (!p) {
        this.adopted.delete(id);
        continue;
      }
      const code = await readExitCode(this.runtime.processFiles(p.sandboxId, p.id));
      if (code !== undefined) await this.complete(p, code);
    }
    if (this.adopted.size === 0 && this.adoptTimer) {
      clearInterval(this.adoptTimer);
      this.adoptTimer = undefined;
    }
  }

  close(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    if (this.adoptTimer) clearInterval(this.adoptTimer);
  }
}
