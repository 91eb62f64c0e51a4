// ProcessHandle on the crun supervisor's files (see ./process-supervisor.ts): output read at
// offsets, the exit file, the host pid crun records (checked against the sandbox's cgroup before
// any signal), and the stdin fifo's write end, which only the daemon that started it holds.
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import { SbxError } from "@sbx-sh/protocol";
import {
  closeStdin,
  pidBelongsTo,
  readChunk,
  readExitCode,
  readHostPid,
  writeStdin,
  type ProcessFiles,
} from "./process-supervisor.js";
import type { OutputStream, ProcessHandle } from "./types.js";

/** How often a process started by an earlier daemon is checked for its exit file. */
const ATTACHED_POLL_MS = 100;

export class SupervisedProcess implements ProcessHandle {
  constructor(
    readonly sandboxId: string,
    readonly id: string,
    private readonly files: ProcessFiles,
    private stdinFd: number | null,
    /** Settles when the supervisor ends: only for processes this daemon started. */
    private readonly exited?: Promise<void>,
  ) {}

  get stdinOpen(): boolean {
    return this.stdinFd !== null;
  }

  read(stream: OutputStream, offset: number, max?: number): Promise<Buffer> {
    return readChunk(this.files[stream], offset, max);
  }

  exitCode(): Promise<number | undefined> {
    return readExitCode(this.files);
  }

  async wait(signal?: AbortSignal): Promise<number | null | undefined> {
    if (this.exited) {
      if (!(await untilSettledOrAborted(this.exited, signal))) return undefined;
      // A supervisor killed before it wrote the exit file leaves no code.
      return (await readExitCode(this.files)) ?? null;
    }
    // Started by an earlier daemon: its supervisor is not our child, so its exit file is polled.
    const stateDir = dirname(this.files.exit);
    for (;;) {
      const code = await readExitCode(this.files);
      if (code !== undefined) return code;
      if (!existsSync(stateDir)) return null;
      if (!(await untilSettledOrAborted(sleep(ATTACHED_POLL_MS), signal))) return undefined;
    }
  }

  async signal(sig: NodeJS.Signals): Promise<boolean> {
    const pid = await readHostPid(this.files);
    if (pid === undefined || !(await pidBelongsTo(pid, this.sandboxId))) return false;
    try {
      process.kill(pid, sig);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
      return false;
    }
  }

  async writeStdin(data: Buffer): Promise<void> {
    if (this.stdinFd === null) throw new SbxError("failed_precondition", `stdin of process ${this.id} is closed`);
    await writeStdin(this.stdinFd, data);
  }

  async closeStdin(): Promise<void> {
    const fd = this.stdinFd;
    if (fd === null) return;
    this.stdinFd = null;
    // Until the supervisor has opened the fifo, ours is its only writer: closed now, the fifo would
    // lose what was written and the supervisor's open would wait forever for a writer. Once crun has
    // recorded the process's pid, the supervisor's redirections are done.
    await readHostPid(this.files);
    closeStdin(fd);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

/** True once `p` settled, false as soon as `signal` aborts (at once when it already has). */
function untilSettledOrAborted(p: Promise<unknown>, signal?: AbortSignal): Promise<boolean> {
  if (!signal) return p.then(() => true);
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = (): void => resolve(false);
    signal.addEventListener("abort", onAbort, { once: true });
    void p.then(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    });
  });
}
