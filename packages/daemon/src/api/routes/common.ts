// Small helpers shared by the route files: response/request declarations and NDJSON answers.
import type { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../api-types.js";
import { alreadySent, outgoingOf, writeNdjson } from "../ndjson-out.js";

export function json<T extends z.ZodType>(schema: T, description: string) {
  return { content: { "application/json": { schema } }, description };
}

export function jsonBody<T extends z.ZodType>(schema: T) {
  return { body: { content: { "application/json": { schema } }, required: true } };
}

/** Each value of an async sequence mapped (records to their wire shape); closing it closes the source. */
export async function* mapEach<T, U>(source: AsyncIterable<T>, fn: (value: T) => U): AsyncGenerator<U> {
  for await (const value of source) yield fn(value);
}

/**
 * An NDJSON response from an async sequence of objects; stops producing when the client goes away.
 * With the call's context `c`, under the HTTP server, written straight to its response
 * (ndjson-out.ts: what comes together goes out in one write), the first line held up to `holdFirstMs`.
 */
export function ndjson(
  events: AsyncIterable<unknown>,
  abort: AbortController,
  c?: Context<AppEnv>,
  holdFirstMs = 0,
): Response {
  const out = c ? outgoingOf(c) : undefined;
  if (out) {
    const id = c!.get("requestId");
    void writeNdjson(events, abort, out, id ? { "x-request-id": id } : {}, holdFirstMs);
    return alreadySent(200);
  }
  const encoder = new TextEncoder();
  const iterator = events[Symbol.asyncIterator]();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const next = await iterator.next();
        if (next.done) controller.close();
        else controller.enqueue(encoder.encode(JSON.stringify(next.value) + "\n"));
      } catch (err) {
        controller.error(err);
      }
    },
    async cancel() {
      abort.abort();
      await iterator.return?.(undefined);
    },
  });
  return new Response(body, {
    status: 200,
    // Chunked up front: without it @hono/node-server first tries to learn a content length by
    // reading ahead, and waits a timer turn when the second value is not there at once, which
    // delayed every exec's output (the second value is the process's first output or its exit).
    headers: { "content-type": "application/x-ndjson", "cache-control": "no-store", "transfer-encoding": "chunked" },
  });
}
