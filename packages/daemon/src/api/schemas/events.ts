// The event stream: one event (each SSE message's data) and the stream's filters.
import { z } from "@hono/zod-openapi";
import { EVENT_TYPES } from "@sbx-sh/protocol";

export const SbxEvent = z
  .object({
    id: z.number().int(),
    time: z.string(),
    type: z.enum(EVENT_TYPES),
    project: z.string(),
    subject: z.string(),
    sandboxId: z.string().nullable(),
    attributes: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])),
  })
  .openapi("SbxEvent");

export const EventsQuery = z.object({
  type: z
    .string()
    .regex(/^[a-z.,]{1,512}$/, "type is a comma-separated list of event types or prefixes (sandbox, build.step)")
    .optional()
    .openapi({ description: "event types or prefixes, comma-separated: `sandbox`, `process.exited`" }),
  sandbox: z.string().max(128).optional().openapi({ description: "only events about this sandbox id" }),
  since: z
    .string()
    .regex(/^\d{1,15}$/)
    .optional()
    .openapi({ description: "resume after this event id (as the Last-Event-ID header does)" }),
});
