// One connection to one sandbox's sbx-agent. The socket lives in a host directory the sandbox can
// write (bind-mounted into it), so its name is opened without following links and must be a socket
// before anything connects to it. Every request times out; any protocol violation, timeout or
// hang-up fails this connection (and only it) with `agent_unreachable`; the runtime connects anew
// on the next call.
import { closeSync, constants, fstatSync, openSync } from "node:fs";
import { createConnection, type Socket } from "node:net";
import { SbxError } from "@sbx-sh/protocol";
import { FrameDecoder } from "./agent-decode.js";
import {
  AgentProtocolError,
  encode,
  type AgentErrorKind,
  type AgentMessage,
  PROTOCOL_MAX,
  PROTOCOL_MIN,
} from "./agent-protocol.js";
import {
  OutputMeter,
  STEP_BURST_BYTES,
  STEP_BYTES_PER_SEC,
  TERMINAL_BURST_BYTES,
  TERMINAL_BYTES_PER_SEC,
  type OutputBudget,
} from "./output-meter.js";

/** open(2)'s O_PATH (not in fs.constants): a handle on the name itself, no open of the socket. */
const O_PATH = 0o10000000;
const DEFAULT_TIMEOUT_MS = 10_000;
/** Requests in flight on one connection; the daemon never needs more, a hostile agent gets no more. */
const MAX_PENDING = 4096;

type Reply = Exclude<AgentMessage, { type: "exit" } | { type: "output" } | { type: "error" }>;

/** An ERROR the agent answered to one request: the connection stays usable. */
export class AgentRequestError extends Error {
  override readonly name = "AgentRequestError";
  constructor(
    readonly kind: AgentErrorKind,
    message: string,
  ) {
    super(message);
  }
}

export interface AgentClientOptions {
  timeoutMs?: number;
}

interface Pending {
  resolve: (m: Reply) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class AgentClient {
  private nextReq = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly exitListeners = new Map<string, Set<(code: number) => void>>();
  private readonly outputListeners = new Map<string, (stream: "stdout" | "stderr", data: Buffer) => void>();
  /** Output ids charged to one of the sandbox's budgets (./output-meter.ts), and the budgets. */
  private readonly metered = new Map<string, OutputMeter>();
  private readonly meters: Record<OutputBudget, OutputMeter> = {
    terminal: new OutputMeter(TERMINAL_BYTES_PER_SEC, TERMINAL_BURST_BYTES),
    step: new OutputMeter(STEP_BYTES_PER_SEC, STEP_BURST_BYTES),
  };
  private resumeTimer: NodeJS.Timeout | undefined;
  private readonly failListeners = new Set<(err: SbxError) => void>();
  private readonly decoder = new FrameDecoder();
  private failure: SbxError | undefined;
  /** The protocol version both ends speak. */
  version = 0;
  agent = "";

  private constructor(
    readonly sandboxId: string,
    private readonly socket: Socket,
    private readonly timeoutMs: number,
  ) {
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", (err) => this.fail(`connection error: ${err.message}`));
    socket.on("close", () => this.fail("the agent closed the connection"));
  }

  /** Connects to the agent listening at `socketPath` (a host path) and agrees on a protocol version. */
  static async connect(sandboxId: string, socketPath: string, opts: AgentClientOptions = {}): Promise<AgentClient> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const unreachable = (why: string): SbxError =>
      new SbxError("agent_unreachable", `the agent of sandbox ${sandboxId} is unreachable: ${why}`);
    let fd: number;
    try {
      fd = openSync(socketPath, O_PATH | constants.O_NOFOLLOW);
    } catch (err) {
      throw unreachable(`no socket (${(err as NodeJS.ErrnoException).code})`);
    }
    let socket: Socket;
    try {
      if (!fstatSync(fd).isSocket()) throw unreachable("its socket was replaced by something else");
      // Connecting through our own descriptor reaches exactly the inode checked above.
      socket = createConnection({ path: `/proc/self/fd/${fd}` });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(unreachable("connect timed out")), timeoutMs);
        socket.once("connect", () => {
          clearTimeout(timer);
          resolve();
        });
        socket.once("error", (err) => {
          clearTimeout(timer);
          reject(unreachable(err.message));
        });
      });
    } finally {
      closeSync(fd);
    }
    const client = new AgentClient(sandboxId, socket, timeoutMs);
    const hello = await client.request((req) => encode.hello(req));
    if (hello.type !== "hello" || hello.version < PROTOCOL_MIN || hello.version > PROTOCOL_MAX) {
      client.close();
      throw unreachable("it does not speak a protocol version this daemon knows");
    }
    client.version = hello.version;
    client.agent = hello.agent;
    return client;
  }

  get failed(): SbxError | undefined {
    return this.failure;
  }

  /** Sends one request; resolves with the reply, rejects with AgentRequestError or agent_unreachable. */
  request(build: (req: number) => Buffer[], timeoutMs = this.timeoutMs): Promise<Reply> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.pending.size >= MAX_PENDING) return Promise.reject(this.failNow("too many requests in flight"));
    const req = this.nextReq;
    this.nextReq = this.nextReq >= 0x7fffffff ? 1 : this.nextReq + 1;
    // Encoded before anything is registered or the socket corked: a request that cannot be encoded
    // (too large for a frame) fails alone, not the connection by its timer, nor every later write.
    let pieces: Buffer[];
    try {
      pieces = build(req);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => this.fail(`no answer within ${timeoutMs} ms`), timeoutMs);
      timer.unref();
      this.pending.set(req, { resolve, reject, timer });
      // One frame's pieces go out together (a single writev), never copied into one buffer.
      this.socket.cork();
      for (const piece of pieces) this.socket.write(piece);
      this.socket.uncork();
    });
  }

  /** Calls `cb` with the exit code when the agent reports process `id` ended. Returns the unsubscribe. */
  onExit(id: string, cb: (code: number) => void): () => void {
    let set = this.exitListeners.get(id);
    if (!set) this.exitListeners.set(id, (set = new Set()));
    set.add(cb);
    return () => {
      set.delete(cb);
      if (!set.size) this.exitListeners.delete(id);
    };
  }

  /** Routes `id`'s output to `cb`, held to the sandbox's `budget` for that kind of output if given. */
  onOutput(
    id: string,
    cb: ((stream: "stdout" | "stderr", data: Buffer) => void) | undefined,
    budget?: OutputBudget,
  ): void {
    if (cb) this.outputListeners.set(id, cb);
    else this.outputListeners.delete(id);
    if (cb && budget) this.metered.set(id, this.meters[budget]);
    else this.metered.delete(id);
  }

  /** Calls `cb` once if this connection fails (at once when it has). Returns the unsubscribe. */
  onFail(cb: (err: SbxError) => void): () => void {
    if (this.failure) {
      cb(this.failure);
      return () => undefined;
    }
    this.failListeners.add(cb);
    return () => this.failListeners.delete(cb);
  }

  close(): void {
    this.fail("closed by the daemon");
  }

  /** Stops reading from the agent (a slow consumer of a streamed download); the agent then waits too. */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  private onData(chunk: Buffer): void {
    if (this.failure) return;
    let messages: AgentMessage[];
    try {
      messages = this.decoder.push(chunk);
    } catch (err) {
      this.fail(err instanceof AgentProtocolError ? `protocol violation: ${err.message}` : String(err));
      return;
    }
    for (const m of messages) {
      if (m.type === "exit") {
        for (const cb of [...(this.exitListeners.get(m.id) ?? [])]) cb(m.code);
        continue;
      }
      if (m.type === "output") {
        this.outputListeners.get(m.id)?.(m.stream, m.data);
        const meter = this.metered.get(m.id);
        if (meter) this.throttle(meter.charge(m.data.length));
        continue;
      }
      const p = this.pending.get(m.req);
      // An answer to nothing asked is a protocol violation too: the agent is not what it claims.
      if (!p) return this.fail(`answer to request ${m.req}, which was not asked`);
      this.pending.delete(m.req);
      clearTimeout(p.timer);
      if (m.type === "error") p.reject(new AgentRequestError(m.kind, m.message));
      else p.resolve(m);
      if (this.failure) return;
    }
  }

  /** Stops reading the connection for `ms` (the sandbox's writers then block in the sandbox). */
  private throttle(ms: number): void {
    if (ms <= 0 || this.resumeTimer || this.failure) return;
    this.socket.pause();
    this.resumeTimer = setTimeout(() => {
      this.resumeTimer = undefined;
      if (!this.failure) this.socket.resume();
    }, ms);
    this.resumeTimer.unref();
  }

  private failNow(why: string): SbxError {
    this.fail(why);
    return this.failure!;
  }

  private fail(why: string): void {
    if (this.failure) return;
    this.failure = new SbxError(
      "agent_unreachable",
      `the agent of sandbox ${this.sandboxId} failed (${why}): the sandbox may have replaced it; ` +
        `terminate the sandbox and create a new one if this persists`,
    );
    this.socket.destroy();
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(this.failure);
    }
    this.pending.clear();
    for (const cb of this.failListeners) cb(this.failure);
    this.failListeners.clear();
    this.exitListeners.clear();
    this.outputListeners.clear();
  }
}
