// A file operation's stdout streamed to its caller (an archive, a file's bytes) on an agent
// connection of its own. The connection is paused while the caller is behind: the agent then stops
// reading the operation's output and the operation blocks on its pipe, so the daemon holds a few
// chunks whatever the size (backpressure end to end). Destroying the stream (the caller left, or
// stopped reading for too long) kills the operation and drops the connection.
// The agent is hostile input: a header that never comes, more bytes than it announced, or fewer at
// a clean exit fail the stream (before it was answered: the promise) with agent_unreachable.
import { PassThrough, type Readable } from "node:stream";
import { SbxError } from "@sbx-sh/protocol";
import type { AgentClient } from "./agent-client.js";
import { encode } from "./agent-protocol.js";

export interface OpHooks {
  onStarted: (procId: string) => void;
  onStdout: (data: Buffer) => void;
}
export interface OpResult {
  code: number;
  stderr: string;
}

export interface StreamShape {
  /** What is streamed, for messages ("the read of /etc/passwd in sandbox sb_1"). */
  what: string;
  /** Bytes of header before the data; the answer waits for them. 0: it comes with the first byte (or a clean exit). */
  headBytes?: number;
  /** The data's exact length the header announces; undefined: not known. */
  sizeOf?: (head: Buffer) => number | undefined;
  /** Most data bytes when the length is not known; more fail the stream with `tooMuch()`. */
  cap?: { bytes: number; tooMuch: () => Error };
  /** The caller left before the answer: the operation is stopped and the promise rejects with the reason. */
  signal?: AbortSignal;
}

/** Bytes the stream holds before the connection is paused (a few of the agent's 64 KiB chunks). */
const HELD_BYTES = 256 * 1024;

/**
 * Runs the operation (`run`, given the hooks that take its output) and answers its stdout as a
 * stream once it has begun; `check` turns a failed exit into its error (the promise's before the
 * answer, the stream's after).
 */
export function streamOut(
  c: AgentClient,
  run: (hooks: OpHooks) => Promise<OpResult>,
  check: (r: OpResult) => void,
  shape: StreamShape,
): Promise<{ stream: Readable; size?: number }> {
  const out = new PassThrough({ highWaterMark: HELD_BYTES });
  // A failure right after the first bytes destroys `out` with the error, possibly before the caller
  // has attached to it (the first bytes and the exit can come in one read): with no listener, that
  // error would be thrown from the event loop and end the daemon. A sandbox can cause this at will.
  // The consumer still learns of it: finished() reports the error a stream was destroyed with before.
  out.on("error", () => undefined);
  const headBytes = shape.headBytes ?? 0;
  const head: Buffer[] = [];
  let headLen = 0;
  let size: number | undefined;
  let count = 0;
  let procId = "";
  let answered = false;
  let paused = false;
  const kill = (id: string): void => void c.request((q) => encode.signal(q, id, 9)).catch(() => undefined);
  const misbehaved = (why: string) =>
    new SbxError("agent_unreachable", `the agent of sandbox ${c.sandboxId} ${why} (${shape.what})`);

  return new Promise((resolve, reject) => {
    const answer = (): void => {
      if (answered) return;
      answered = true;
      resolve(size === undefined ? { stream: out } : { stream: out, size });
    };
    const fail = (err: Error): void => {
      if (answered) out.destroy(err);
      else {
        answered = true;
        reject(err);
        out.destroy();
      }
    };
    const onAbort = (): void => {
      const why: unknown = shape.signal?.reason;
      fail(why instanceof Error ? why : new Error(String(why)));
    };
    out.on("close", () => {
      shape.signal?.removeEventListener("abort", onAbort);
      // The consumer went away (or the stream ended): stop the operation, then drop this connection.
      // Not at once: closing it right after the SIGNAL could drop the request unsent, and a
      // stopped (SIGSTOP) read would then stay in the sandbox for good. Read again meanwhile: the
      // answer comes after output the paused connection has not taken in.
      const drop = (): void => void setImmediate(() => c.close());
      if (!procId) return drop();
      c.resume();
      c.request((q) => encode.signal(q, procId, 9)).then(drop, drop);
    });
    if (shape.signal?.aborted) return onAbort();
    shape.signal?.addEventListener("abort", onAbort, { once: true });

    const take = (data: Buffer): void => {
      count += data.length;
      if (size !== undefined && count > size) return fail(misbehaved(`sent more than the ${size} bytes it announced`));
      if (size === undefined && shape.cap && count > shape.cap.bytes) return fail(shape.cap.tooMuch());
      if (!out.write(data) && !paused) {
        paused = true;
        c.pause();
        out.once("drain", () => {
          paused = false;
          c.resume();
        });
      }
    };
    const onStdout = (data: Buffer): void => {
      if (out.destroyed) return;
      if (headLen < headBytes) {
        const n = Math.min(headBytes - headLen, data.length);
        head.push(data.subarray(0, n));
        headLen += n;
        if (headLen < headBytes) return;
        size = shape.sizeOf?.(Buffer.concat(head, headLen));
        data = data.subarray(n);
        answer();
        if (data.length === 0) return;
      }
      answer();
      take(data);
    };
    const onStarted = (id: string): void => {
      procId = id;
      if (out.destroyed) kill(id);
    };
    run({ onStarted, onStdout }).then(
      (r) => {
        procId = "";
        if (out.destroyed) return;
        try {
          check(r);
        } catch (err) {
          return fail(err as Error);
        }
        if (headLen < headBytes) return fail(misbehaved("ended the operation without its header"));
        if (size !== undefined && count < size)
          return fail(misbehaved(`ended the operation after ${count} of the ${size} bytes it announced`));
        answer();
        out.end();
      },
      (err: Error) => fail(err),
    );
  });
}
