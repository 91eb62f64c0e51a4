// Reading a child's stdout pipe into one reused buffer instead of a new Buffer per read. A stream
// read hands over a fresh 64 KiB ArrayBuffer each time: for an export's ~130 MB of tar that is
// ~2000 short-lived external allocations, and V8 starts a full GC per ~64 MB of external memory
// growth (measured: ~9 Mark-Compacts per first export). Node has no `onread` option for a child's
// stdio, so its handle is handed to a net.Socket made with one.
import { Socket, type SocketConstructorOpts } from "node:net";
import type { Readable } from "node:stream";

/**
 * Calls `onChunk` with each piece of `stdout` as a view of `buffer`, which is overwritten by the
 * next read: `onChunk` must copy what it keeps. When it returns a promise, reading waits for it
 * (the view stays valid until then). Settles when the pipe ends, or rejects with the first error
 * (onChunk's or the read's, or destroy()'s). Must be called in the tick that created `stdout` (before any read);
 * anything that is not a pipe with a file descriptor is read as a stream (fresh buffers then).
 */
export function readPipeInto(
  stdout: Readable,
  buffer: Buffer,
  onChunk: (b: Buffer) => Promise<void> | undefined,
): { done: Promise<void>; destroy(): void } {
  // Node's stdio "pipes" are socketpairs: the handle moves to a net.Socket made with `onread`, and
  // the child's own stream, left without one, closes at once (the child's "close" still comes).
  const owner = stdout as unknown as { _handle?: { readStart?: unknown } | null };
  const handle = owner._handle;
  if (!(stdout instanceof Socket) || !handle || typeof handle.readStart !== "function")
    return readStream(stdout, onChunk);
  owner._handle = null;
  stdout.destroy();
  let failed = false;
  let sock: Socket | undefined;
  let fail: (err: unknown) => void = () => undefined;
  const done = new Promise<void>((resolve, reject) => {
    fail = (err: unknown): void => {
      if (failed) return;
      failed = true;
      sock?.destroy();
      reject(err);
    };
    // `onread` is honoured by the constructor, though @types/node only lists it for connect().
    sock = new Socket({
      handle,
      readable: true,
      writable: false,
      onread: {
        buffer,
        callback: (n: number, buf: Uint8Array): boolean => {
          if (failed) return false;
          let wait: Promise<void> | undefined;
          try {
            wait = onChunk(Buffer.from(buf.buffer, buf.byteOffset, n));
          } catch (err) {
            fail(err);
            return false;
          }
          if (!wait) return true;
          wait.then(() => {
            if (!failed) sock!.resume();
          }, fail);
          return false;
        },
      },
    } as SocketConstructorOpts);
    sock.on("error", fail);
    sock.on("end", () => {
      sock!.destroy();
      if (!failed) resolve();
    });
  });
  done.catch(() => undefined); // a caller that gives up (destroy) need not await it
  return { done, destroy: () => fail(new Error("the read was abandoned")) };
}

function readStream(
  stdout: Readable,
  onChunk: (b: Buffer) => Promise<void> | undefined,
): { done: Promise<void>; destroy(): void } {
  const done = (async () => {
    for await (const chunk of stdout as AsyncIterable<Buffer>) {
      const w = onChunk(chunk);
      if (w) await w;
    }
  })();
  return { done, destroy: () => stdout.destroy() };
}
