// GET /v1/events: the project's events as server-sent events. Each message carries the event's id,
// so a client (a browser's EventSource does it by itself) resumes with `Last-Event-ID`. The body
// (./sse-stream.ts) pulls from the subscription only as fast as the client reads: a client that stops
// reading lets its bounded queue fill and is dropped (the stream ends), while the daemon goes on.
import { createRoute } from "@hono/zod-openapi";
import { SbxError } from "@sbx-sh/protocol";
import type { EventBus, EventSubscription } from "../../services/event-bus.js";
import type { Api } from "../api-types.js";
import { EventsQuery, SbxEvent as SbxEventSchema } from "../schemas/index.js";
import { sseStream } from "./sse-stream.js";

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

function sseResponse(sub: EventSubscription): Response {
  return new Response(sseStream(sub), {
    status: 200,
    headers: { "content-type": "text/event-stream", "cache-control": "no-store", "x-accel-buffering": "no" },
  });
}
