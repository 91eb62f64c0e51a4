// Processes inside a sandbox: the SandboxProcess handle (wait, output, signals, stdin) and the
// decoding of output events (base64 chunks, exit) shared with Sandbox.run.
import { constants as osConstants } from "node:os";
import type { Readable } from "node:stream";
import { StringDecoder } from "node:string_decoder";
import type { ProcessInfo } from "@sbx-sh/protocol";
import { apiPath, SbxError } from "@sbx-sh/protocol";
import { ndjson } from "./ndjson.js";
import type { Transport } from "./transport.js";

export type OutputChunk =
  | { type: "stdout"; data: Buffer }
  | { type: "stderr"; data: Buffer }
  | { type: "exit"; exitCode: number | null; signal: string | null; timedOut: boolean };

export type ProcessEvent = { type: "started"; process: ProcessInfo } | OutputChunk;

export interface CommandResult {
  /** The exit status; for a process killed by a signal, 128 + the signal number (shell convention). */
  exitCode: number;
  stdout: string;
  stderr: string;
  /** The signal that killed the process (`SIGKILL`, ...), if any. */
  signal: string | null;
  /** True when the process hit its `timeout` and was killed. */
  timedOut: boolean;
}

export interface OutputHandlers {
  /** Called with each piece of stdout as it arrives (UTF-8 decoded; characters are never split). */
  onStdout?: (text: string) => void;
  onStderr?: (text: string) => void;
  signal?: AbortSignal;
}

/** Turns NDJSON values into typed events; unknown event types are skipped so newer daemons stay compatible. */
export async function* decodeEvents(values: AsyncIterable<unknown>): AsyncGenerator<ProcessEvent> {
  for await (const value of values) {
    const ev = value as {
      type?: unknown;
      data?: unknown;
      process?: unknown;
      exitCode?: unknown;
      signal?: unknown;
      timedOut?: unknown;
    };
    if (ev.type === "stdout" || ev.type === "stderr") {
      yield { type: ev.type, data: Buffer.from(typeof ev.data === "string" ? ev.data : "", "base64") };
    } else if (ev.type === "exit") {
      yield {
        type: "exit",
        exitCode: typeof ev.exitCode === "number" ? ev.exitCode : null,
        signal: typeof ev.signal === "string" ? ev.signal : null,
        timedOut: ev.timedOut === true,
      };
    } else if (ev.type === "started") {
      yield { type: "started", process: ev.process as ProcessInfo };
    }
  }
}

/**
 * The events of an exec or output stream (sbxd's NDJSON answer). sbxd ends the stream right after
 * the exit event, so once the caller has that and stops reading, the rest (the end of the chunked
 * answer) is still read, not cut off: the kept-alive connection then serves the next request,
 * instead of every `run` paying for a new one. A caller that stops before the exit cuts the
 * stream, as the process may go on printing.
 */
export async function* streamEvents(body: Readable): AsyncGenerator<ProcessEvent> {
  let exited = false;
  try {
    for await (const ev of decodeEvents(ndjson(body.iterator({ destroyOnReturn: false })))) {
      if (ev.type === "exit") exited = true;
      yield ev;
    }
  } finally {
    if (!body.readableEnded) {
      if (exited) body.resume();
      else body.destroy();
    }
  }
}

/** The shell's view of how a process ended: its code, or 128 + signal number when killed. */
export function exitStatus(exit: { exitCode: number | null; signal: string | null }): number {
  if (exit.exitCode !== null) return exit.exitCode;
  const signo = exit.signal ? signalNumber(exit.signal) : undefined;
  return signo !== undefined ? 128 + signo : -1;
}

export function signalNumber(name: string): number | undefined {
  const key = (name.startsWith("SIG") ? name : `SIG${name}`).toUpperCase();
  return (osConstants.signals as Record<string, number>)[key];
}

export function signalName(sig: string | number): string {
  if (typeof sig === "number") {
    const found = Object.entries(osConstants.signals).find(([, n]) => n === sig);
    if (!found) throw new SbxError("invalid_argument", `unknown signal number ${sig}`);
    return found[0];
  }
  const upper = sig.toUpperCase();
  return upper.startsWith("SIG") ? upper : `SIG${upper}`;
}

/** Drains events into a CommandResult, feeding the handlers as output arrives. */
export async function collectResult(
  events: AsyncIterable<ProcessEvent>,
  handlers: OutputHandlers = {},
  what = "the process",
): Promise<CommandResult> {
  const out = new StringDecoder("utf8");
  const err = new StringDecoder("utf8");
  let stdout = "";
  let stderr = "";
  for await (const ev of events) {
    if (ev.type === "stdout") {
      const text = out.write(ev.data);
      stdout += text;
      if (text) handlers.onStdout?.(text);
    } else if (ev.type === "stderr") {
      const text = err.write(ev.data);
      stderr += text;
      if (text) handlers.onStderr?.(text);
    } else if (ev.type === "exit") {
      const restOut = out.end();
      const restErr = err.end();
      if (restOut) handlers.onStdout?.(restOut);
      if (restErr) handlers.onStderr?.(restErr);
      return {
        exitCode: exitStatus(ev),
        stdout: stdout + restOut,
        stderr: stderr + restErr,
        signal: ev.signal,
        timedOut: ev.timedOut,
      };
    }
  }
  throw new SbxError("internal", `the output stream of ${what} ended before it exited (connection to sbxd lost?)`);
}

export interface OutputOptions {
  /** Keep the stream open and yield new output until the process exits. */
  follow?: boolean;
  signal?: AbortSignal;
}

/** A process started in the background with `sandbox.startProcess`. */
export class SandboxProcess {
  readonly sandboxId: string;
  readonly id: string;
  private readonly transport: Transport;
  private last: ProcessInfo | undefined;

  constructor(transport: Transport, sandboxId: string, id: string, info?: ProcessInfo) {
    this.transport = transport;
    this.sandboxId = sandboxId;
    this.id = id;
    this.last = info;
  }

  private path(route: "process" | "processOutput" | "processSignal" | "processStdin" = "process"): string {
    return apiPath(route, { id: this.sandboxId, pid: this.id });
  }

  /** The process record as last seen, without a request. */
  get lastInfo(): ProcessInfo | undefined {
    return this.last;
  }

  async info(): Promise<ProcessInfo> {
    this.last = await this.transport.json<ProcessInfo>("GET", this.path());
    return this.last;
  }

  /** Output so far as events; with `follow`, also new output until the exit event. */
  async *output(options: OutputOptions = {}): AsyncGenerator<OutputChunk> {
    const body = await this.transport.stream("GET", this.path("processOutput"), {
      query: { follow: options.follow },
      signal: options.signal,
    });
    for await (const ev of streamEvents(body)) {
      if (ev.type !== "started") yield ev;
    }
  }

  /** Waits for the exit and returns all output (also what was printed before the call). */
  wait(handlers: OutputHandlers = {}): Promise<CommandResult> {
    return collectResult(this.output({ follow: true, signal: handlers.signal }), handlers, `process ${this.id}`);
  }

  /** Sends a signal (`"SIGINT"`, `"TERM"`, `15`); answers the updated process record. */
  async signal(sig: string | number = "SIGTERM"): Promise<ProcessInfo> {
    this.last = await this.transport.json<ProcessInfo>("POST", this.path("processSignal"), {
      json: { signal: signalName(sig) },
    });
    return this.last;
  }

  kill(): Promise<ProcessInfo> {
    return this.signal("SIGKILL");
  }

  /** Needs the process to have been started with `stdin: true`. */
  writeStdin(data: string | Uint8Array): Promise<void> {
    return this.transport.empty("POST", this.path("processStdin"), {
      body: typeof data === "string" ? Buffer.from(data) : data,
    });
  }

  /** Sends EOF. */
  closeStdin(): Promise<void> {
    return this.transport.empty("DELETE", this.path("processStdin"));
  }
}
