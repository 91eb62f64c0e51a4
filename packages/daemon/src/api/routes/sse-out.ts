// GET /v1/events under the HTTP server: written straight into its response (as ../ndjson-out.ts
// does for NDJSON answers) rather than as a web ReadableStream that @hono/node-server pumps. The
// head goes out with `: subscribed` in one write (it was two writes per connect, each a wake-up of
// the client), and an event costs one write instead of a web stream read, a turn of the server's
// pump and a write. The bound is the response's backpressure: while it needs draining the
// subscription is not read, so its bounded queue fills and the follower is dropped, as before.
import type { ServerResponse } from "node:http";
import type { EventSubscription } from "../../services/event-bus.js";
import { drained } from "../ndjson-out.js";
import { DROPPED, KEEPALIVE, KEEPALIVE_MS, nextChunk, SSE_HEADERS, SUBSCRIBED } from "./sse-stream.js";

/** Settles when the stream ended (the follower left or was dropped); never rejects. */
export async function writeSse(
  sub: EventSubscription,
  out: ServerResponse,
  headers: Record<string, string>,
  keepaliveMs = KEEPALIVE_MS,
): Promise<void> {
  const iterator = sub[Symbol.asyncIterator]();
  // Closing the subscription wakes a pending read, which then ends the loop.
  const gone = (): void => sub.close();
  out.once("close", gone);
  if (out.destroyed) gone();
  // As in sseStream: a tick that finds nothing sent since the last one sends the keepalive, and
  // only into a response with room (a stalled client's buffer does not grow by a line per tick).
  let quiet = true;
  const ticker = setInterval(() => {
    if (quiet && !out.writableNeedDrain && !out.destroyed) out.write(KEEPALIVE);
    quiet = true;
  }, keepaliveMs / 2);
  try {
    out.writeHead(200, { ...SSE_HEADERS, ...headers });
    // The head goes out with this first write.
    out.write(SUBSCRIBED);
    for (;;) {
      if (out.writableNeedDrain) await drained(out);
      const chunk = await nextChunk(sub, iterator);
      if (chunk === null || out.destroyed) break;
      quiet = false;
      out.write(chunk);
    }
    if (!out.destroyed) out.end(sub.overflowed ? DROPPED : undefined);
  } catch (err) {
    out.destroy(err as Error);
  } finally {
    clearInterval(ticker);
    out.off("close", gone);
    sub.close();
    void iterator.return?.(undefined);
  }
}
