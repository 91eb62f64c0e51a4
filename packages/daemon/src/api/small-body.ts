// A forwarded call's request body read whole when it is small and declared (exec, JSON calls), to
// go to the node with the head in one write; read off the HTTP server's connection itself, not
// through a web Request. Shared by the app's routing (cluster-calls.ts) and the fast path.
import { IncomingMessage } from "node:http";
import type { Context } from "hono";
import { SbxError } from "@sbx-sh/protocol";
import type { AppEnv } from "./api-types.js";
import { declaredLength } from "./body-limits.js";

/** Request bodies up to this size are read whole and go to the node with the head, in one write. */
export const SMALL_BODY_BYTES = 64 * 1024;

/**
 * The request's body read whole when it is declared and small (exec, JSON calls); undefined: it
 * streams. Read from the connection itself when nothing has touched it yet: asking the web Request
 * for its body would first build a full one and a web stream over the connection, on every call.
 */
export async function smallBody(c: Context<AppEnv>): Promise<Uint8Array | undefined> {
  const size = declaredLength(c.req.raw.headers);
  if (size === undefined || size > SMALL_BODY_BYTES || c.req.method === "GET" || c.req.method === "HEAD")
    return undefined;
  const incoming = (c.env as { incoming?: unknown } | undefined)?.incoming;
  if (!(incoming instanceof IncomingMessage) || incoming.readableFlowing !== null || incoming.readableEnded)
    return new Uint8Array(await c.req.arrayBuffer());
  return readWhole(incoming);
}

/** A request's body read whole off the HTTP server's connection (a small, declared one). */
export function readWhole(incoming: IncomingMessage): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    incoming.on("data", (chunk: Buffer) => chunks.push(chunk));
    incoming.once("end", () => resolve(Buffer.concat(chunks)));
    incoming.on("error", reject);
    incoming.once("close", () => {
      if (!incoming.complete) reject(new SbxError("invalid_argument", "the request's body broke off"));
    });
  });
}
