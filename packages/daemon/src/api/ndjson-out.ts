// An NDJSON answer written straight into the HTTP server's response rather than through a web
// Response's stream, so that what comes together goes out in one write. @hono/node-server sends a
// streamed Response's head in a write of its own before it reads the first value, then each value
// as it comes: a quick exec's answer (head; `started`; `exit` and the end) was two or three writes,
// each a wake-up of the caller and, behind a control plane, a TCP segment to it, a read and a write
// there and an ACK back. Here the head goes out with the first line; lines that come in one turn of
// the loop (the last one and the end) go out in one write; and with `holdFirstMs` the first line
// waits that long for the next (a command that ends at once is answered in a single write, the
// head, `started`, `exit` and the end together; a longer one's `started` is that much later).
// Values are produced only as the caller takes them (a slow caller pauses the sequence); a caller
// that goes away aborts the sequence and closes it.
import { ServerResponse } from "node:http";
import type { Context } from "hono";
import type { AppEnv } from "./api-types.js";

/** Characters of lines kept back (to go out together) before they are written regardless. */
const FLUSH_CHARS = 64 * 1024;

/** The HTTP server's response for this call, when it runs under @hono/node-server (not in app.request()). */
export function outgoingOf(c: Context<AppEnv>): ServerResponse | undefined {
  const out = (c.env as { outgoing?: unknown } | undefined)?.outgoing;
  return out instanceof ServerResponse ? out : undefined;
}

/** The Response that tells @hono/node-server the answer was written already (and the request log its status). */
export function alreadySent(status: number): Response {
  return new Response(null, { status, headers: { "x-hono-already-sent": "1" } });
}

/**
 * Writes `events` as NDJSON to `out` (status 200, `headers` added); settles when the answer ended
 * or broke off (never rejects: a failing sequence breaks the caller's stream).
 */
export async function writeNdjson(
  events: AsyncIterable<unknown>,
  abort: AbortController,
  out: ServerResponse,
  headers: Record<string, string>,
  holdFirstMs = 0,
): Promise<void> {
  const iterator = events[Symbol.asyncIterator]();
  let gone = false;
  const onClose = (): void => {
    if (out.writableFinished) return;
    gone = true;
    abort.abort();
    void iterator.return?.(undefined)?.catch(() => undefined);
  };
  out.once("close", onClose);
  // A caller that left while the call was being set up (an exec waiting on a resume): no close
  // event will come, and the sequence must not be read into a response nobody takes.
  if (out.destroyed) onClose();
  // Lines not written yet, and the timer or immediate that writes them.
  let pending = "";
  let timer: NodeJS.Timeout | undefined;
  let soon: NodeJS.Immediate | undefined;
  const flush = (): void => {
    clearTimeout(timer);
    clearImmediate(soon);
    timer = soon = undefined;
    if (gone || out.destroyed) {
      pending = "";
      return;
    }
    if (pending) out.write(pending);
    else out.flushHeaders();
    pending = "";
  };
  out.writeHead(200, { "content-type": "application/x-ndjson", "cache-control": "no-store", ...headers });
  // The head alone only when the first value is not there within this turn (a follow with nothing
  // yet: the caller learns at once that the call was taken).
  soon = setImmediate(flush);
  let first = true;
  try {
    for (;;) {
      if (out.writableNeedDrain) await drained(out);
      if (gone) return;
      const next = await iterator.next();
      if (gone) return;
      if (next.done) break;
      pending += JSON.stringify(next.value) + "\n";
      // Values that are there at once (a flood of output already queued) come without a turn of
      // the loop in between: past this size they are written now, so the response's backpressure
      // holds the sequence instead of a string that grows without bound.
      if (pending.length >= FLUSH_CHARS) {
        first = false;
        flush();
        continue;
      }
      if (first) {
        // The head goes with this line.
        clearImmediate(soon);
        soon = undefined;
        first = false;
        if (holdFirstMs > 0) {
          timer = setTimeout(flush, holdFirstMs);
          continue;
        }
      }
      // Another line: what waits goes out at the end of this turn, with whatever else comes in it.
      clearTimeout(timer);
      timer = undefined;
      soon ??= setImmediate(flush);
    }
    clearTimeout(timer);
    clearImmediate(soon);
    // The lines still waiting, the head if it was not sent, and the end: one write.
    if (!gone && !out.destroyed) out.end(pending);
  } catch (err) {
    clearTimeout(timer);
    clearImmediate(soon);
    out.destroy(err as Error);
  } finally {
    out.off("close", onClose);
  }
}

/** Settles once `out` can take more (drained) or is gone (closed). */
export function drained(out: ServerResponse): Promise<void> {
  return new Promise<void>((resume) => {
    const go = (): void => {
      out.off("drain", go);
      out.off("close", go);
      resume();
    };
    out.on("drain", go);
    out.on("close", go);
  });
}
