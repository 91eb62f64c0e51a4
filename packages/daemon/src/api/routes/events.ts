// GET /v1/events: the project's events as server-sent events. Each message carries the event's id,
// so a client (a browser's EventSource does it by itself) resumes with `Last-Event-ID`. The stream
// pulls from the subscription only as fast as the client reads: a client that stops reading lets
// its bounded queue fill and is dropped (the stream ends), while the daemon goes on.
import { createRoute } from "@hono/zod-openapi";
import { SbxError, type SbxEvent } from "@sbx-sh/protocol";
import type { EventBus } from "../../services/event-bus.js";
import type { Api } from "../api-types.js";
import { EventsQuery, SbxEvent as SbxEventSchema } from "../schemas/index.js";

/** A comment line this often keeps proxies and idle timeouts from closing a quiet stream. */
const KEEPALIVE_MS = 15_000;

export function registerEventRoutes(app: Api, bus: EventBus): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/events",
      summary: "The project's events (server-sent events; resume with Last-Event-ID)",
      request: { query: EventsQuery },
      responses: { 200: { content: { "text/event-stream": { schema: SbxEventSchema } }, description: "events" } },
    }),
    (c) => {
      const q = c.req.valid("query");
      const last = q.since ?? c.req.header("last-event-id");
      if (last !== undefined && !/^\d{1,15}$/.test(last))
        throw new SbxError("invalid_argument", `Last-Event-ID ${JSON.stringify(last)} is not an event id`);
      const sub = bus.subscribe({
        project: c.get("project"),
        types: q.type ? q.type.split(",").filter(Boolean) : [],
        ...(q.sandbox ? { sandboxId: q.sandbox } : {}),
        ...(last !== undefined ? { after: Number(last) } : {}),
      });
      return sseResponse(sub);
    },
  );
}

function sseResponse(events: AsyncIterable<SbxEvent> & { close(): void; overflowed: boolean }): Response {
  const encoder = new TextEncoder();
  const iterator = events[Symbol.asyncIterator]();
  let pending: Promise<IteratorResult<SbxEvent>> | undefined;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      // Sent at once: the client knows it is subscribed before the first event.
      controller.enqueue(encoder.encode("retry: 1000\n: subscribed\n\n"));
    },
    async pull(controller) {
      pending ??= iterator.next();
      let timer: NodeJS.Timeout | undefined;
      const tick = new Promise<"tick">((r) => (timer = setTimeout(() => r("tick"), KEEPALIVE_MS)));
      const next = await Promise.race([pending, tick]).finally(() => clearTimeout(timer));
      if (next === "tick") return controller.enqueue(encoder.encode(": keepalive\n\n"));
      pending = undefined;
      if (next.done) {
        if (events.overflowed) controller.enqueue(encoder.encode(": dropped: the client did not keep up\n\n"));
        return controller.close();
      }
      const e = next.value;
      controller.enqueue(encoder.encode(`id: ${e.id}\ndata: ${JSON.stringify(e)}\n\n`));
    },
    cancel() {
      events.close();
      void iterator.return?.(undefined);
    },
  });
  return new Response(body, {
    status: 200,
    headers: { "content-type": "text/event-stream", "cache-control": "no-store", "x-accel-buffering": "no" },
  });
}
