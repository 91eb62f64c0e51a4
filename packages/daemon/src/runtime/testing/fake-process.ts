// Processes of FakeRuntime: a program (a JS function standing in for a binary) run with in-memory
// stdout/stderr, a stdin queue and signals with POSIX default actions (death by signal n exits
// 128+n unless the program handles it). FakeProcess is the ProcessHandle of the process's starter;
// attachHandle() is what a restarted daemon gets back: same output, exit and signals, no stdin.
import { constants } from "node:os";
import { SbxError } from "@sbx-sh/protocol";
import type { OutputStream, ProcessHandle } from "../types.js";
import type { FakeFs } from "./fake-fs.js";

export interface ProgramContext {
  argv: string[];
  env: string[];
  cwd: string;
  user: string;
  fs: FakeFs;
  stdout(data: Buffer | string): void;
  stderr(data: Buffer | string): void;
  /** The next stdin chunk, or null once stdin is closed (or there is none). */
  readStdin(): Promise<Buffer | null>;
  /** Handles `sig` instead of the default action (SIGKILL cannot be handled). */
  onSignal(sig: NodeJS.Signals, handler: () => void): void;
  /** Rejects when the process is killed: programs that wait (sleep) race it. */
  killed: Promise<never>;
  /** Runs another program of the same sandbox with this one's context (what a shell does). */
  exec(argv: string[], over?: Partial<Pick<ProgramContext, "stdout" | "stderr" | "env" | "cwd">>): Promise<number>;
}

/** What a process gives the program it runs: its output, stdin and signals. */
export type ProcessIo = Pick<ProgramContext, "stdout" | "stderr" | "readStdin" | "onSignal" | "killed">;

/** A stand-in for a binary: answers its exit code. */
export type FakeProgram = (ctx: ProgramContext) => Promise<number>;

/** Signals whose default action is to ignore (or stop/continue, which the fake does not model). */
const NOT_FATAL = new Set<string>(["SIGCHLD", "SIGWINCH", "SIGURG", "SIGCONT", "SIGSTOP", "SIGTSTP"]);

export class FakeProcess implements ProcessHandle {
  private readonly out: Record<OutputStream, Buffer[]> = { stdout: [], stderr: [] };
  private readonly stdinChunks: Buffer[] = [];
  private stdinWaiter: (() => void) | undefined;
  private stdinClosed: boolean;
  private readonly handlers = new Map<string, () => void>();
  private code: number | undefined;
  private discarded = false;
  private kill!: (code: number) => void;
  readonly done: Promise<number>;

  constructor(
    readonly sandboxId: string,
    readonly id: string,
    withStdin: boolean,
    /** Output goes here as well as into the process's own buffers (builds, terminals). */
    onOutput: ((stream: OutputStream, data: Buffer) => void) | undefined,
    start: (io: ProcessIo) => Promise<number>,
  ) {
    this.stdinClosed = !withStdin;
    const killed = new Promise<never>((_, reject) => {
      this.kill = (code) => reject(Object.assign(new Error("killed"), { exitCode: code }));
    });
    killed.catch(() => undefined);
    const write = (stream: OutputStream, d: Buffer | string): void => {
      const b = Buffer.from(d);
      this.out[stream].push(b);
      onOutput?.(stream, b);
    };
    const ctx: ProcessIo = {
      stdout: (d) => write("stdout", d),
      stderr: (d) => write("stderr", d),
      readStdin: () => this.nextStdin(),
      onSignal: (sig, handler) => void this.handlers.set(sig, handler),
      killed,
    };
    this.done = Promise.race([start(ctx), killed])
      .catch((err: unknown) => (err as { exitCode?: number }).exitCode ?? 1)
      .then((code) => {
        this.code = code;
        this.stdinClosed = true;
        this.stdinWaiter?.();
        return code;
      });
  }

  get stdinOpen(): boolean {
    return !this.stdinClosed;
  }

  private async nextStdin(): Promise<Buffer | null> {
    for (;;) {
      const chunk = this.stdinChunks.shift();
      if (chunk) return chunk;
      if (this.stdinClosed) return null;
      await new Promise<void>((r) => (this.stdinWaiter = r));
    }
  }

  async read(stream: OutputStream, offset: number, max = 1 << 20): Promise<Buffer> {
    if (this.discarded) return Buffer.alloc(0);
    return Buffer.concat(this.out[stream]).subarray(offset, offset + max);
  }

  /** Bytes of output held (FakeRuntime's output usage). */
  get outputBytes(): number {
    return this.discarded ? 0 : [...this.out.stdout, ...this.out.stderr].reduce((a, b) => a + b.length, 0);
  }

  discardOutput(): void {
    this.discarded = true;
  }

  async exitCode(): Promise<number | undefined> {
    return this.code;
  }

  async wait(signal?: AbortSignal): Promise<number | null | undefined> {
    if (!signal) return this.done;
    if (signal.aborted) return undefined;
    return new Promise((resolve) => {
      const onAbort = (): void => resolve(undefined);
      signal.addEventListener("abort", onAbort, { once: true });
      void this.done.then((code) => {
        signal.removeEventListener("abort", onAbort);
        resolve(code);
      });
    });
  }

  async signal(sig: NodeJS.Signals): Promise<boolean> {
    if (this.code !== undefined) return false;
    const handler = this.handlers.get(sig);
    if (sig !== "SIGKILL" && handler) handler();
    else if (sig === "SIGKILL" || !NOT_FATAL.has(sig)) this.kill(128 + constants.signals[sig]);
    return true;
  }

  /** What the sandbox's end does to it: SIGKILL, whatever it handles. */
  terminate(): void {
    if (this.code === undefined) this.kill(128 + constants.signals.SIGKILL);
  }

  async writeStdin(data: Buffer): Promise<void> {
    if (this.stdinClosed) throw new SbxError("failed_precondition", `stdin of process ${this.id} is closed`);
    this.stdinChunks.push(Buffer.from(data));
    this.stdinWaiter?.();
  }

  async closeStdin(): Promise<void> {
    this.stdinClosed = true;
    this.stdinWaiter?.();
  }

  /** A handle as a restarted daemon gets it: everything but stdin, whose writer is gone. */
  attachHandle(): ProcessHandle {
    return {
      sandboxId: this.sandboxId,
      id: this.id,
      stdinOpen: false,
      read: (stream, offset, max) => this.read(stream, offset, max),
      exitCode: () => this.exitCode(),
      wait: (signal) => this.wait(signal),
      signal: (sig) => this.signal(sig),
      writeStdin: async () => {
        throw new SbxError("failed_precondition", `stdin of process ${this.id} is closed`);
      },
      closeStdin: async () => undefined,
    };
  }
}
