// GET /v1/events: the project's events as server-sent events. Each message carries the event's id,
// so a client (a browser's EventSource does it by itself) resumes with `Last-Event-ID`. The answer
// (./sse-out.ts under the server, ./sse-stream.ts otherwise) reads the subscription only as fast as
// the client reads: one that stops lets its bounded queue fill and is dropped, the daemon goes on.
import { createRoute } from "@hono/zod-openapi";
import { SbxError } from "@sbx-sh/protocol";
import type { EventBus } from "../../services/event-bus.js";
import type { Api } from "../api-types.js";
import { EventsQuery, SbxEvent as SbxEventSchema } from "../schemas/index.js";
import { alreadySent, outgoingOf } from "../ndjson-out.js";
import { writeSse } from "./sse-out.js";
import { SSE_HEADERS, sseStream } from "./sse-stream.js";

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
      const out = outgoingOf(c);
      if (!out) return new Response(sseStream(sub), { status: 200, headers: SSE_HEADERS });
      const id = c.get("requestId");
      void writeSse(sub, out, id ? { "x-request-id": id } : {});
      return alreadySent(200);
    },
  );
}
