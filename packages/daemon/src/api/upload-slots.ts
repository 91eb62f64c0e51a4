// How many raw uploads (files, archives, build contexts, image imports) one project may stream at
// once. Each upload holds a connection, a temp file and disk bandwidth; without a cap, one tenant
// over TCP could run the daemon out of all three. Past the cap the answer is 503 at once, before
// any of the body is read: the client retries when one of its uploads has finished.
import type { MiddlewareHandler } from "hono";
import { SbxError } from "@sbx-sh/protocol";

export const MAX_UPLOADS_PER_PROJECT = 4;

export function uploadSlots(max = MAX_UPLOADS_PER_PROJECT): MiddlewareHandler {
  const active = new Map<string, number>();
  return async (c, next) => {
    const project = String(c.get("project") ?? "");
    const n = active.get(project) ?? 0;
    if (n >= max)
      throw new SbxError(
        "daemon_unavailable",
        `project ${project} already has ${max} uploads in progress: wait for one to finish, then retry`,
      );
    active.set(project, n + 1);
    try {
      await next();
    } finally {
      const left = (active.get(project) ?? 1) - 1;
      if (left > 0) active.set(project, left);
      else active.delete(project);
    }
  };
}
