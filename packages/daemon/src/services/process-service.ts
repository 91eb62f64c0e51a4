// Processes in sandboxes: start in the background, follow output, wait for the exit code, send
// signals, feed stdin, time out. Records are in the store; the processes themselves are runtime
// handles, which outlive the daemon: a restarted daemon attaches to the ones still running.
// Their output is read as events by ./process-output.ts, with the sandbox's secrets masked (./secret-mask.ts).
import { SbxError, newId, assertExecFits, mergeEnv } from "@sbx-sh/protocol";
import type { StartProcess } from "../domain/commands.js";
import type { ProcessOutputEvent, ProcessRecord, SandboxRecord } from "../domain/records.js";
import type { ProcessHandle, SandboxRuntime } from "../runtime/runtime.js";
import { assertSignal } from "../runtime/signals.js";
import type { Store } from "../store/store.js";
import { ProcessOutputs } from "./process-output.js";
import { ProcessRetention } from "./process-retention.js";
import { maskOutput } from "./secret-mask.js";
import type { Logger } from "../common/log.js";
import type { EventBus } from "./event-bus.js";
import type { SandboxEvents } from "./sandbox-events.js";
import type { SandboxService } from "./sandbox-service.js";

/** A process this daemon watches: started here, or attached to at daemon start. */
interface Watched {
  handle: ProcessHandle;
  /** Attached after a restart: its end without an exit code is its sandbox's end, which says how. */
  attached: boolean;
  /** Stops waiting for its exit (it completed otherwise, or the daemon is closing). */
  stop: AbortController;
}

export class ProcessService {
  private readonly watched = new Map<string, Watched>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly outputs: ProcessOutputs;
  private readonly retention: ProcessRetention;

  constructor(
    private readonly store: Store,
    private readonly runtime: SandboxRuntime,
    private readonly sandboxes: SandboxService,
    events: SandboxEvents,
    private readonly log: Logger,
    /** Where process starts and exits are published (none in some unit tests). */
    private readonly bus?: EventBus,
    /** Ended processes each sandbox keeps listed (./process-retention.ts). */
    history?: number,
  ) {
    this.outputs = new ProcessOutputs(store);
    this.retention = new ProcessRetention(store, runtime, (id) => this.outputs.isBeingRead(id), log, history);
    events.onGone((s) => this.sandboxEnded(s));
  }

  async start(project: string, sandboxIdOrName: string, req: StartProcess): Promise<ProcessRecord> {
    return (await this.launch(project, sandboxIdOrName, req)).rec;
  }

  /**
   * Starts a process and follows its output until it exits (the exec route). The output is read
   * through the handle that started it: a short command has often ended, and left the watched set,
   * before its caller reads, and attaching anew would cost a round trip to the runtime.
   */
  async exec(
    project: string,
    sandboxIdOrName: string,
    req: StartProcess,
    signal?: AbortSignal,
  ): Promise<{ process: ProcessRecord; events: AsyncGenerator<ProcessOutputEvent> }> {
    const { rec, handle, secrets } = await this.launch(project, sandboxIdOrName, req);
    return { process: rec, events: maskOutput(this.outputs.read(rec, handle, true, signal), Object.values(secrets)) };
  }

  private async launch(
    project: string,
    sandboxIdOrName: string,
    req: StartProcess,
  ): Promise<{ rec: ProcessRecord; handle: ProcessHandle; secrets: Record<string, string> }> {
    const sb = await this.sandboxes.getRunning(project, sandboxIdOrName);
    if (req.workingDir !== undefined && !req.workingDir.startsWith("/"))
      throw new SbxError("invalid_path", `workingDir ${JSON.stringify(req.workingDir)} must be an absolute path`);
    // Names (an image's `user("app")`) are looked up in the sandbox's own /etc/passwd.
    const user = await this.runtime.resolveUser(sb.id, req.user ?? sb.config.user);
    const secrets = await this.sandboxes.secretsOf(sb);
    const env = mergeEnv(sb.config.env, { ...sb.env, ...secrets, ...(req.env ?? {}) });
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
    await this.retention.beforeStart(sb.id);
    await this.store.insertProcess(rec);
    let handle: ProcessHandle;
    try {
      handle = await this.runtime.startProcess(sb.id, rec.id, {
        argv: [req.command, ...rec.args],
        env,
        cwd: req.workingDir ?? sb.config.workingDir,
        user,
        stdin: rec.stdin,
      });
      this.watch(rec, handle, false);
    } catch (err) {
      await this.store.updateProcess(rec.id, { status: "exited", exitCode: null, endedAt: new Date().toISOString() });
      throw err;
    }
    if (rec.deadline) this.armTimeout(sb.id, rec.id, Date.parse(rec.deadline) - Date.now());
    this.bus?.publish({
      type: "process.started",
      project: sb.project,
      subject: rec.id,
      sandboxId: sb.id,
      attributes: { command: rec.command },
    });
    return { rec, handle, secrets };
  }

  /** Completes the record when the process ends (as long as this daemon watches it). */
  private watch(p: ProcessRecord, handle: ProcessHandle, attached: boolean): void {
    const stop = new AbortController();
    this.watched.set(p.id, { handle, attached, stop });
    handle.wait(stop.signal).then(
      (code) => {
        if (code === undefined || (code === null && attached)) return;
        return this.complete(p, code);
      },
      (err: unknown) => this.log.warn({ process: p.id, err }, "waiting for a process failed"),
    );
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
        `process ${procId} does not exist in sandbox ${sb.id} (a sandbox keeps its ${this.retention.history} newest processes): list them with GET /v1/sandboxes/${sb.id}/processes`,
      );
    return p;
  }

  async signal(project: string, sandboxIdOrName: string, procId: string, signalName: string): Promise<ProcessRecord> {
    const sig = assertSignal(signalName);
    const p = await this.get(project, sandboxIdOrName, procId);
    if (p.status !== "running")
      throw new SbxError(
        "failed_precondition",
        `process ${p.id} has already ended (exit code ${p.exitCode ?? "unknown"}): there is nothing to signal`,
      );
    await this.sendSignal(p, sig);
    return (await this.store.getProcess(p.sandboxId, p.id))!;
  }

  async writeStdin(project: string, sandboxIdOrName: string, procId: string, data: Buffer): Promise<void> {
    const p = await this.get(project, sandboxIdOrName, procId);
    if (!p.stdin)
      throw new SbxError("failed_precondition", `process ${p.id} was started without stdin: start it with stdin: true`);
    const handle = this.watched.get(p.id)?.handle;
    // Only the daemon that started a process holds its stdin: after a restart it is closed.
    if (!handle?.stdinOpen || p.status !== "running")
      throw new SbxError("failed_precondition", `stdin of process ${p.id} is closed`);
    await handle.writeStdin(data);
  }

  async closeStdin(project: string, sandboxIdOrName: string, procId: string): Promise<void> {
    const p = await this.get(project, sandboxIdOrName, procId);
    await this.watched.get(p.id)?.handle.closeStdin();
  }

  /** This daemon's handle on the process, or one attached now (e.g. to read an ended process's output). */
  private async handleOf(p: ProcessRecord): Promise<ProcessHandle | undefined> {
    const watched = this.watched.get(p.id)?.handle;
    if (watched) return watched;
    return this.runtime.attachProcess(p.sandboxId, p.id).catch((err: unknown) => {
      // An ended process of a sandbox that is gone has no output left: it has an exit event still.
      if (p.status === "exited") return undefined;
      throw err;
    });
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
    // A program that prints one of the sandbox's secrets shows `***` in everything we hand out.
    const secrets = await this.sandboxes.secretsOf(await this.sandboxes.get(project, sandboxIdOrName));
    yield* maskOutput(this.outputs.read(p, await this.handleOf(p), follow, signal), Object.values(secrets));
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
    const project = this.bus ? (await this.store.getSandbox(p.sandboxId))?.project : undefined;
    if (project !== undefined)
      this.bus?.publish({
        type: "process.exited",
        project,
        subject: p.id,
        sandboxId: p.sandboxId,
        attributes: {
          command: p.command,
          exitCode,
          signal: signal ?? null,
          durationMs: Date.now() - Date.parse(p.startedAt),
        },
      });
    clearTimeout(this.timers.get(p.id));
    this.timers.delete(p.id);
    const watched = this.watched.get(p.id);
    if (watched) {
      this.watched.delete(p.id);
      watched.stop.abort();
      await watched.handle.closeStdin();
    }
    this.outputs.exited(p.id);
  }

  private async sendSignal(p: ProcessRecord, sig: NodeJS.Signals): Promise<void> {
    const handle = await this.handleOf(p);
    if (handle && (await handle.signal(sig))) await this.store.updateProcess(p.id, { signal: sig });
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
    this.retention.sandboxEnded(s.id);
    for (const p of await this.store.listProcesses(s.id)) {
      if (p.status === "running") await this.complete(p, 137, "SIGKILL");
    }
  }

  /** Daemon start: processes of live sandboxes are attached to again (exits, timeouts). */
  async adoptRunning(): Promise<number> {
    let adopted = 0;
    for (const p of await this.store.listRunningProcesses()) {
      const sb = await this.store.getSandbox(p.sandboxId);
      if (!sb || sb.status !== "running") continue;
      try {
        this.watch(p, await this.runtime.attachProcess(p.sandboxId, p.id), true);
        adopted++;
      } catch (err) {
        // Never started (the daemon died in between): it stays running until its sandbox ends.
        this.log.warn({ process: p.id, err }, "could not attach to a running process");
      }
      if (p.deadline) this.armTimeout(p.sandboxId, p.id, Date.parse(p.deadline) - Date.now());
    }
    return adopted;
  }

  close(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    for (const w of this.watched.values()) w.stop.abort();
  }
}
