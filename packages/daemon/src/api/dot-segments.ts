// Refuses request paths with `.` or `..` segments (also percent-encoded, %2e%2e). The HTTP adapter
// resolves them before routing, so `/v1/builds/../events` would silently become `/v1/events`: a
// path parameter that is a traversal must be bad input (400), never another route's answer.
import type { IncomingMessage } from "node:http";
import type { MiddlewareHandler } from "hono";
import { SbxError } from "@sbx-sh/protocol";

/** Whether the raw request target has a `.` or `..` path segment, literal or percent-encoded. */
export function hasDotSegment(target: string): boolean {
  const path = target.split("?", 1)[0]!;
  return path.split("/").some((seg) => {
    const s = seg.replace(/%2e/gi, ".");
    return s === "." || s === "..";
  });
}

export function refuseDotSegments(): MiddlewareHandler {
  return async (c, next) => {
    // The raw target as the client sent it (node server only; app.fetch in unit tests has none).
    const raw = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming?.url;
    if (raw && hasDotSegment(raw))
      throw new SbxError("invalid_argument", "the request path has a . or .. segment: name objects by their ids");
    await next();
  };
}
