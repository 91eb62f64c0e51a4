// The body of GET /v1/events: a subscription's events as server-sent events, pulled only as fast as
// the client reads (a client that stops reading lets its subscription's bounded queue fill and is
// dropped). A follower shares the daemon's one thread with the create path, so its per-event work is
// kept small: an event's frame is serialised once for all followers (./sse-frame.ts), the events
// queued by the time the stream pulls go out as one chunk (one write, one wake-up of the client:
// a create publishes `sandbox.created` and `pool.claimed` in the same tick), and the keepalive is one
// interval per stream instead of a timer made and cleared for every event.
import type { SbxEvent } from "@sbx-sh/protocol";
import type { EventSubscription } from "../../services/event-bus.js";
import { sseFrame } from "./sse-frame.js";

/** A comment line at least this often keeps proxies and idle timeouts from closing a quiet stream. */
export const KEEPALIVE_MS = 15_000;
/**
 * Events in one chunk at most: what a slow client holds beyond its subscription's queue is one
 * chunk, so a batch must not be the whole queue (a 1 KiB event × 1024 would be 1 MiB more per client).
 */
export const MAX_BATCH = 64;

const encoder = new TextEncoder();
export const SUBSCRIBED = encoder.encode("retry: 1000\n: subscribed\n\n");
export const KEEPALIVE = encoder.encode(": keepalive\n\n");
export const DROPPED = encoder.encode(": dropped: the client did not keep up\n\n");
export const SSE_HEADERS = {
  "content-type": "text/event-stream",
  "cache-control": "no-store",
  "x-accel-buffering": "no",
};

/** The next chunk for a follower: the next event and those queued behind it (MAX_BATCH at most); null at the end. */
export async function nextChunk(sub: EventSubscription, iterator: AsyncIterator<SbxEvent>): Promise<Uint8Array | null> {
  const next = await iterator.next();
  if (next.done) return null;
  const batch: SbxEvent[] = [next.value, ...sub.take(MAX_BATCH - 1)];
  return batch.length === 1 ? sseFrame(next.value) : Buffer.concat(batch.map(sseFrame));
}

/** The stream form, for a Response (app.request() in tests; the server path is ./sse-out.ts). */
export function sseStream(sub: EventSubscription, keepaliveMs = KEEPALIVE_MS): ReadableStream<Uint8Array> {
  const iterator = sub[Symbol.asyncIterator]();
  let ticker: NodeJS.Timeout | undefined;
  let quiet = true;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      // Sent at once: the client knows it is subscribed before the first event.
      controller.enqueue(SUBSCRIBED);
      // Ticks at half the period, and a tick that finds nothing sent since the last one sends the
      // keepalive: no gap longer than keepaliveMs. Only into a stream with room (a client that
      // reads): a stalled client's buffer does not grow by a line per tick.
      ticker = setInterval(() => {
        if (quiet && (controller.desiredSize ?? 0) > 0) controller.enqueue(KEEPALIVE);
        quiet = true;
      }, keepaliveMs / 2);
    },
    async pull(controller) {
      const chunk = await nextChunk(sub, iterator);
      if (chunk === null) {
        clearInterval(ticker);
        if (sub.overflowed) controller.enqueue(DROPPED);
        return controller.close();
      }
      quiet = false;
      controller.enqueue(chunk);
    },
    cancel() {
      clearInterval(ticker);
      sub.close();
      void iterator.return?.(undefined);
    },
  });
}
