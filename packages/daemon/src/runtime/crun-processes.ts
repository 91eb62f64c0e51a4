// A crun sandbox's processes and terminals: through its agent (PID 1, ./agent/) when it has one,
// else under detached supervisors around `crun exec` (./process-supervisor.ts, ./pty-exec.ts), so
// that either way they outlive a daemon restart and are found again by id.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { SbxError } from "@sbx-sh/protocol";
import type { AgentSandboxes } from "./agent/agent-sandboxes.js";
import { FILES_VERSION } from "./agent/agent-files.js";
import { dropTerminalRecord, loadTerminalRecords, saveTerminalRecord } from "./agent/agent-terminal-records.js";
import type { Crun } from "./crun.js";
import {
  discardOutput,
  forgetProcessFiles,
  launchProcess,
  logsUsage,
  processExists,
  processFiles,
} from "./process-supervisor.js";
import { openPtyExec } from "./pty-exec.js";
import { quiesce } from "./quiesce.js";
import { SupervisedProcess } from "./supervised-process.js";
import type { LayerSource, ProcessHandle, ProcessSpec, TerminalHandle, TerminalSpec } from "./types.js";
import { resolveUser } from "./user-resolve.js";

/** What the processes use of their runtime. */
export interface ProcessParts {
  crun: Crun;
  agents: AgentSandboxes | undefined;
  cgroupVersion: 1 | 2;
  cgroupParent: string;
  dir(id: string): string;
  /** The sandbox's dir, or sandbox_not_found. */
  known(id: string): string;
}

export class CrunProcesses {
  constructor(private readonly p: ProcessParts) {}

  canCaptureQuiet(id: string): boolean {
    return this.p.agents?.has(id) === true;
  }

  async captureQuiet<T>(id: string, consume: (layer: LayerSource) => Promise<T>): Promise<T> {
    const agents = this.p.agents;
    if (!agents?.has(id)) throw new SbxError("internal", `sandbox ${id} has no agent to quiesce it`);
    const run = (argv: string[]) =>
      agents.run(
        id,
        { argv, env: [], cwd: "/", user: "0:0" },
        () => undefined,
        () => undefined,
      );
    await quiesce(id, { run, cgroupVersion: this.p.cgroupVersion, cgroupParent: this.p.cgroupParent });
    return consume({ kind: "directory", path: join(this.p.known(id), "rw", "upper") });
  }

  async resolveUser(id: string, user: string): Promise<string> {
    this.p.known(id);
    const agents = this.p.agents;
    if (!agents?.has(id)) return resolveUser(this.p.crun, id, user);
    return resolveUser(this.p.crun, id, user, (argv) => agents.capture(id, argv));
  }

  async run(
    id: string,
    spec: Omit<ProcessSpec, "stdin">,
    onOutput: (stream: "stdout" | "stderr", data: Buffer) => void,
    signal?: AbortSignal,
  ): Promise<number> {
    this.p.known(id);
    // Stopping the sandbox on abort, as below: a killed step's background children would hold its output open.
    if (this.p.agents?.has(id))
      return this.p.agents.run(id, spec, onOutput, () => void this.p.crun.delete(id).catch(() => undefined), signal);
    return new Promise((resolve, reject) => {
      const child = spawn(
        this.p.crun.binary,
        this.p.crun.execArgv(id, spec.argv, { env: spec.env, cwd: spec.cwd, user: spec.user }),
        { stdio: ["ignore", "pipe", "pipe"] },
      );
      child.stdout.on("data", (b: Buffer) => onOutput("stdout", b));
      child.stderr.on("data", (b: Buffer) => onOutput("stderr", b));
      // Killing crun exec alone leaves the command running (and holding the pipes): stop the sandbox.
      const abort = (): void => {
        child.kill("SIGKILL");
        void this.p.crun.delete(id).catch(() => undefined);
      };
      signal?.addEventListener("abort", abort, { once: true });
      child.on("error", reject);
      child.on("close", (code, sig) => {
        signal?.removeEventListener("abort", abort);
        resolve(code ?? (sig ? 137 : 1));
      });
    });
  }

  async startProcess(id: string, procId: string, spec: ProcessSpec): Promise<ProcessHandle> {
    const files = this.processFiles(id, procId);
    if (this.p.agents?.has(id)) return this.p.agents.startProcess(id, procId, spec, files);
    const launched = await launchProcess(
      this.p.crun,
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
    if (this.p.agents?.has(id)) return this.p.agents.attachProcess(id, procId, files);
    if (!processExists(files))
      throw new SbxError("process_not_found", `process ${procId} does not exist in sandbox ${id}`);
    // Its stdin writer was the daemon that started it: gone, and with it the process's stdin.
    return new SupervisedProcess(id, procId, files, null);
  }

  async outputUsage(id: string): Promise<number> {
    return logsUsage(join(this.p.known(id), "logs"));
  }

  async discardOutput(id: string, procId: string): Promise<void> {
    return discardOutput(this.processFiles(id, procId));
  }

  async forgetProcess(id: string, procId: string): Promise<void> {
    // sbx-agent writes an exit file beside the output (<id>.exit, sbx-agent.c log_path): a page of
    // the log tmpfs each, which is what filled it after ~8000 processes when nothing removed them.
    const files = this.processFiles(id, procId); // checks the id before it becomes a file name
    return forgetProcessFiles(files, [join(this.p.known(id), "logs", `${procId}.exit`)]);
  }

  private processFiles(id: string, procId: string) {
    const dir = this.p.known(id);
    return processFiles(join(dir, "logs"), join(dir, "state"), procId);
  }

  openTerminal(id: string, termId: string, spec: TerminalSpec): TerminalHandle {
    this.p.known(id);
    if (this.p.agents?.has(id)) {
      const handle = this.p.agents.openTerminal(id, termId, spec);
      const state = join(this.p.dir(id), "state");
      // Kept for a restarted daemon (the agent keeps the terminal running); gone once it ends.
      const saved = saveTerminalRecord(state, termId, spec.record ?? null).catch(() => undefined);
      handle.onExit(() => void saved.then(() => this.terminalEnded(id, state, termId)));
      return handle;
    }
    return openPtyExec(this.p.crun, id, spec.argv, {
      env: spec.env,
      cwd: spec.cwd,
      user: spec.user,
      cols: spec.cols,
      rows: spec.rows,
      files: this.processFiles(id, termId),
    });
  }

  async adoptTerminals(id: string) {
    this.p.known(id);
    const agents = this.p.agents;
    if (!agents?.has(id) || !(await agents.speaks(id, FILES_VERSION))) return [];
    const state = join(this.p.dir(id), "state");
    return (await loadTerminalRecords(state)).map(({ termId, record }) => {
      const handle = agents.attachTerminal(id, termId);
      handle.onExit(() => void this.terminalEnded(id, state, termId));
      return { termId, record, handle };
    });
  }

  /**
   * An agent's terminal ended: its record goes, and the exit file the agent wrote for it (as for
   * any process of its own; the daemon has the code already), which would else stay in the log tmpfs.
   */
  private async terminalEnded(id: string, state: string, termId: string): Promise<void> {
    await Promise.all([dropTerminalRecord(state, termId), this.forgetProcess(id, termId)]).catch(() => undefined);
  }
}
