// How many raw uploads (files, archives, build contexts, image imports) and file reads one project
// may have in flight at once. An upload holds a connection, a temp file and disk bandwidth; a file
// read holds an agent connection, a process in the sandbox and a few chunks of memory until its
// answer has been sent (or it idled: services/file-service.ts). Without a cap, one tenant (or code in a sandbox serving big files to a caller) could run the
// daemon out of any of these. Past the cap the answer is 503 at once, before any work: the client
// retries when one of its calls has finished.
import type { MiddlewareHandler } from "hono";
import { SbxError } from "@sbx-sh/protocol";
import { outgoingOf } from "./ndjson-out.js";

export const MAX_UPLOADS_PER_PROJECT = 4;
export const MAX_READS_PER_PROJECT = 4;

export function uploadSlots(max = MAX_UPLOADS_PER_PROJECT): MiddlewareHandler {
  return projectSlots(max, "uploads", false);
}

/** A read's slot is held until its answer has been sent (or its caller left, or it idled): it streams till then. */
export function readSlots(max = MAX_READS_PER_PROJECT): MiddlewareHandler {
  return projectSlots(max, "file reads", true);
}

/** At most `max` calls per project at once; `untilSent`: a slot ends with the answer's last byte, not the handler. */
function projectSlots(max: number, what: string, untilSent: boolean): MiddlewareHandler {
  const active = new Map<string, number>();
  const release = (project: string): void => {
    const left = (active.get(project) ?? 1) - 1;
    if (left > 0) active.set(project, left);
    else active.delete(project);
  };
  return async (c, next) => {
    const project = String(c.get("project") ?? "");
    const n = active.get(project) ?? 0;
    if (n >= max)
      throw new SbxError(
        "daemon_unavailable",
        `project ${project} already has ${max} ${what} in progress: wait for one to finish, then retry`,
      );
    active.set(project, n + 1);
    let held = false;
    try {
      await next();
      const out = untilSent ? outgoingOf(c) : undefined;
      if (out && !out.closed) {
        held = true;
        out.once("close", () => release(project));
      }
    } finally {
      if (!held) release(project);
    }
  };
}
