// ProcessHandle on a process sbx-agent runs: output read from the files the agent's process writes
// in the sandbox's log tmpfs (opened from the host without following links), exit pushed by the
// agent as an event, signals and stdin as requests. A connection that fails is replaced once, so a
// process outlives a daemon restart or a dropped connection; after that its end is unknown (null).
import { constants as os } from "node:os";
import { SbxError } from "@sbx-sh/protocol";
import { readChunk, type ProcessFiles } from "../process-supervisor.js";
import type { OutputStream, ProcessHandle } from "../types.js";
import { AgentRequestError, type AgentClient } from "./agent-client.js";
import { encode } from "./agent-protocol.js";

/** Stdin goes to the agent in frames of at most this many bytes (the protocol's frames are ≤ 1 MiB). */
const STDIN_CHUNK = 256 * 1024;

/** How the wait for an exit ended: a code, the process unknown to the agent (null), or the connection lost. */
export type ExitOutcome = number | null | "lost";

/** Subscribes to the exit of `procId` on `client`: registered before anything is asked, so none is missed. */
export function exitOf(client: AgentClient, procId: string): { outcome: Promise<ExitOutcome>; cancel: () => void } {
  let cancel = (): void => undefined;
  const outcome = new Promise<ExitOutcome>((resolve) => {
    const offExit = client.onExit(procId, (code) => done(code));
    const offFail = client.onFail(() => done("lost"));
    const done = (v: ExitOutcome): void => {
      offExit();
      offFail();
      resolve(v);
    };
    cancel = () => done("lost");
  });
  return { outcome, cancel };
}

export class AgentProcess implements ProcessHandle {
  private stdin: boolean;
  private stdinQueue: Promise<void> = Promise.resolve();
  private reconnected = false;

  constructor(
    readonly sandboxId: string,
    readonly id: string,
    private readonly files: ProcessFiles,
    private readonly client: () => Promise<AgentClient>,
    /** Settles with the exit as seen on the connection that started (or attached to) the process. */
    private exited: Promise<ExitOutcome>,
    stdin: boolean,
  ) {
    this.stdin = stdin;
  }

  get stdinOpen(): boolean {
    return this.stdin;
  }

  read(stream: OutputStream, offset: number, max?: number): Promise<Buffer> {
    return readChunk(this.files[stream], offset, max);
  }

  async exitCode(): Promise<number | undefined> {
    const c = await this.client();
    try {
      const s = await c.request((q) => encode.status(q, this.id));
      return s.type === "status" && s.exited ? s.code : undefined;
    } catch (err) {
      if (err instanceof AgentRequestError) return undefined;
      throw err;
    }
  }

  async wait(signal?: AbortSignal): Promise<number | null | undefined> {
    for (;;) {
      const r = await untilSettledOrAborted(this.exited, signal);
      if (r === ABORTED) return undefined;
      if (r !== "lost") return r;
      // The connection went (daemon-side close, a restarted agent connection): ask a fresh one once.
      if (this.reconnected) return null;
      this.reconnected = true;
      this.exited = this.resubscribe();
    }
  }

  private async resubscribe(): Promise<ExitOutcome> {
    let c: AgentClient;
    try {
      c = await this.client();
    } catch {
      return null; // no agent: the sandbox is gone (or its agent is), and the exit with it
    }
    return statusThenExit(c, this.id);
  }

  async signal(sig: NodeJS.Signals): Promise<boolean> {
    const signo = os.signals[sig];
    if (!signo) throw new SbxError("invalid_argument", `unknown signal ${sig}`);
    const c = await this.client();
    try {
      await c.request((q) => encode.signal(q, this.id, signo));
      return true;
    } catch (err) {
      if (err instanceof AgentRequestError && (err.kind === "not_running" || err.kind === "not_found")) return false;
      throw err;
    }
  }

  writeStdin(data: Buffer): Promise<void> {
    if (!this.stdin)
      return Promise.reject(new SbxError("failed_precondition", `stdin of process ${this.id} is closed`));
    // One write at a time, in order: the agent takes one pending write per process.
    const next = this.stdinQueue.then(() => this.sendStdin(data));
    this.stdinQueue = next.catch(() => undefined);
    return next;
  }

  private async sendStdin(data: Buffer): Promise<void> {
    const c = await this.client();
    for (let off = 0; off < data.length || off === 0; off += STDIN_CHUNK) {
      try {
        await c.request((q) => encode.stdin(q, this.id, data.subarray(off, off + STDIN_CHUNK)));
      } catch (err) {
        if (err instanceof AgentRequestError)
          throw new SbxError("failed_precondition", `stdin of process ${this.id} is closed: ${err.message}`);
        throw err;
      }
      if (data.length === 0) break;
    }
  }

  async closeStdin(): Promise<void> {
    if (!this.stdin) return;
    this.stdin = false;
    await this.stdinQueue;
    // Best effort: an ended process or a gone agent has no stdin to close.
    await this.client()
      .then((c) => c.request((q) => encode.eof(q, this.id)))
      .catch(() => undefined);
  }
}

/** Subscribes, then asks: an exit between the two is caught by the subscription. */
export async function statusThenExit(c: AgentClient, procId: string): Promise<ExitOutcome> {
  const sub = exitOf(c, procId);
  try {
    const s = await c.request((q) => encode.status(q, procId));
    if (s.type === "status" && s.exited) {
      sub.cancel();
      return s.code;
    }
  } catch (err) {
    sub.cancel();
    if (err instanceof AgentRequestError) return null;
    return "lost";
  }
  return sub.outcome;
}

const ABORTED = Symbol("aborted");

function untilSettledOrAborted<T>(p: Promise<T>, signal?: AbortSignal): Promise<T | typeof ABORTED> {
  if (!signal) return p;
  if (signal.aborted) return Promise.resolve(ABORTED);
  return new Promise((resolve) => {
    const onAbort = (): void => resolve(ABORTED);
    signal.addEventListener("abort", onAbort, { once: true });
    void p.then((v) => {
      signal.removeEventListener("abort", onAbort);
      resolve(v);
    });
  });
}
