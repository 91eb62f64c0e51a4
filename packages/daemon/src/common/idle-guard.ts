// A stream that must keep moving: a file read holds one of its project's read slots, an agent
// connection and a process in the sandbox until it ends, and a caller that keeps its connection open
// but stops reading (or a sandbox file that never gives its next byte) would hold them for good.
// The guard passes chunks on as they are (no copy) and fails the stream once none has passed for
// `idleMs`, which stops its source.
import { Transform, pipeline, type Readable } from "node:stream";

/** `source`'s chunks; destroyed with `idleError()` (and `source` with it) when none passed for `idleMs`. */
export function idleGuard(source: Readable, idleMs: number, idleError: () => Error): Readable {
  const guard = new Transform({
    transform(chunk: Buffer, _enc, done) {
      timer.refresh();
      done(null, chunk);
    },
    // A chunk still held by the guard when its reader stops counts as not yet passed.
    highWaterMark: 64 * 1024,
  });
  const timer = setTimeout(() => guard.destroy(idleError()), idleMs);
  timer.unref();
  guard.once("close", () => clearTimeout(timer));
  // Either end failing or closing early destroys the other: a consumer that cancels stops the source.
  pipeline(source, guard, () => clearTimeout(timer));
  return guard;
}

/**
 * A signal for work that must begin within `idleMs` (a read whose file does not open): aborted with
 * `idleError()` then, or with `caller`'s reason when the caller leaves first. `done()` stops the timer.
 */
export function idleSignal(
  idleMs: number,
  idleError: () => Error,
  caller?: AbortSignal,
): { signal: AbortSignal; done: () => void } {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(idleError()), idleMs);
  timer.unref();
  return {
    signal: caller ? AbortSignal.any([caller, ctl.signal]) : ctl.signal,
    done: () => clearTimeout(timer),
  };
}
