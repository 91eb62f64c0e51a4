// Terminals from the SDK: a program on a pseudo-terminal in a sandbox, attached over a WebSocket
// (binary frames are the terminal's bytes both ways, text frames JSON control). Detaching leaves
// the program running; attaching again replays the recent output (the daemon keeps 64 KiB).
import type { WebSocket as WsSocket } from "ws";
import type { TerminalInfo } from "@sbx-sh/protocol";
import { apiPath, SbxError } from "@sbx-sh/protocol";
import { errorFromResponse, type Body, type Transport } from "./transport.js";

export interface TerminalOptions {
  /** The program; default: bash if the image has it, else sh. */
  command?: string;
  args?: string[];
  /** Added to the sandbox's environment; TERM defaults to xterm-256color. */
  env?: Record<string, string>;
  workingDir?: string;
  /** `root`, a uid, `uid:gid` or a user name. */
  user?: string;
  cols: number;
  rows: number;
}

/** Output that arrives before anyone listens is kept (up to this much) for the first listener. */
const PENDING_LIMIT = 1 << 20;

export class Terminal implements AsyncIterable<Buffer> {
  private readonly listeners = new Set<(data: Buffer) => void>();
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private closed = false;
  private readonly ended: Promise<number>;
  private detached = false;

  private constructor(
    private readonly transport: Transport,
    readonly sandboxId: string,
    readonly id: string,
    private readonly ws: WsSocket,
  ) {
    this.ended = new Promise<number>((resolve, reject) => {
      let exitCode: number | undefined;
      let error: SbxError | undefined;
      ws.on("message", (data: Buffer, isBinary: boolean) => {
        if (isBinary) return this.emit(data);
        let msg: { type?: string; exitCode?: number; error?: { code?: string; message?: string } };
        try {
          msg = JSON.parse(data.toString("utf8")) as typeof msg;
        } catch {
          return;
        }
        if (msg.type === "exit") exitCode = msg.exitCode ?? 0;
        else if (msg.type === "error")
          error = new SbxError("invalid_argument", msg.error?.message ?? "terminal error", { code: msg.error?.code });
      });
      ws.on("close", (code, reason) => {
        this.closed = true;
        for (const l of this.listeners) l(Buffer.alloc(0));
        if (exitCode !== undefined) return resolve(exitCode);
        if (this.detached)
          return reject(
            new SbxError(
              "failed_precondition",
              `detached from terminal ${id}; it keeps running: attach again with attachTerminal`,
            ),
          );
        const why = error?.message ?? (reason.toString() || `connection closed (${code})`);
        reject(
          new SbxError("daemon_unavailable", `lost terminal ${id} before it exited: ${why}; attach again to go on`),
        );
      });
    });
    // wait() is optional; an unobserved detach must not crash the program.
    this.ended.catch(() => undefined);
  }

  /** Connects to a terminal; output since the daemon's scrollback began comes first. */
  static async attach(transport: Transport, sandboxId: string, terminalId: string): Promise<Terminal> {
    const path = apiPath("terminalAttach", { id: sandboxId, tid: terminalId });
    const ws = await transport.webSocket(path);
    // Listening from the start: the replay may arrive in the same read as the handshake.
    const terminal = new Terminal(transport, sandboxId, terminalId, ws);
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", (err) => reject(transport.connectionError(err)));
      ws.once("unexpected-response", (_req, res) => {
        // The daemon's refusal has no body on a WebSocket upgrade: ask the same question over HTTP for its reason.
        res.resume();
        ws.removeAllListeners("error");
        ws.on("error", () => undefined);
        void transport
          .json<TerminalInfo>("GET", path.slice(0, -"/attach".length))
          .then(
            async () =>
              reject(await errorFromResponse(res.statusCode ?? 500, { text: async () => "" } as unknown as Body)),
            reject,
          );
        ws.terminate();
      });
    });
    return terminal;
  }

  private get base(): string {
    return apiPath("terminal", { id: this.sandboxId, tid: this.id });
  }

  private emit(data: Buffer): void {
    if (this.listeners.size === 0) {
      if (this.pendingBytes + data.length <= PENDING_LIMIT) {
        this.pending.push(data);
        this.pendingBytes += data.length;
      }
      return;
    }
    for (const l of this.listeners) l(data);
  }

  /** Sends keystrokes (or any bytes) to the program. */
  write(data: string | Uint8Array): void {
    if (!this.closed) this.ws.send(typeof data === "string" ? Buffer.from(data) : data, { binary: true });
  }

  /** Tells the program the window is now cols x rows (it gets SIGWINCH). */
  resize(cols: number, rows: number): void {
    if (!this.closed) this.ws.send(JSON.stringify({ type: "resize", cols, rows }));
  }

  /** Calls `cb` with each piece of output (raw bytes); answers a function that stops it. */
  onData(cb: (data: Buffer) => void): () => void {
    const l = (d: Buffer): void => {
      if (d.length) cb(d);
    };
    this.listeners.add(l);
    const held = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    for (const d of held) l(d);
    return () => void this.listeners.delete(l);
  }

  /** Output as it comes, until the terminal ends or this client detaches. */
  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    const queue: Buffer[] = [];
    let wake: (() => void) | undefined;
    const off = this.onData((d) => {
      queue.push(d);
      wake?.();
    });
    const onEnd = (): void => wake?.();
    this.ws.on("close", onEnd);
    try {
      for (;;) {
        if (queue.length) yield queue.shift()!;
        else if (this.closed) return;
        else await new Promise<void>((r) => (wake = r));
      }
    } finally {
      off();
      this.ws.off("close", onEnd);
    }
  }

  /** The program's exit code; rejects when this client detaches or loses the connection first. */
  wait(): Promise<number> {
    return this.ended;
  }

  /** Leaves the terminal running (re-attach with `attachTerminal`). */
  async detach(): Promise<void> {
    if (this.closed) return;
    this.detached = true;
    const closed = new Promise((r) => this.ws.once("close", r));
    this.ws.close(1000, "detached");
    await closed;
  }

  info(): Promise<TerminalInfo> {
    return this.transport.json<TerminalInfo>("GET", this.base);
  }

  /** Kills the program (SIGKILL); answers once it has ended. */
  kill(): Promise<TerminalInfo> {
    return this.transport.json<TerminalInfo>("DELETE", this.base);
  }
}
