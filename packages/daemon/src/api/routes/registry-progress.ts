// Push and pull with `?progress=1`: the answer is NDJSON instead of one JSON object, so a client can
// show how far a long transfer is: `{"event":"progress",bytes,total,layers,layersTotal}` lines (at
// most every PROGRESS_EVERY_MS, and one at the end), then `{"event":"result","result":{...}}`, or
// an `{"error":{...}}` line if it failed after the answer began (as the other NDJSON streams end).
import { z } from "@hono/zod-openapi";
import { setTimeout as sleep } from "node:timers/promises";
import type { OnRegistryProgress, RegistryProgress } from "../../oci/registry.js";
import { toSbxError } from "@sbx-sh/protocol";
import { ndjson } from "./common.js";

const PROGRESS_EVERY_MS = 250;

export const ProgressQuery = z.object({
  progress: z
    .enum(["1", "true", "0", "false"])
    .optional()
    .openapi({ description: "answer NDJSON: progress events, then the result (an `error` line if it fails)" }),
});

export const RegistryProgressEvent = z
  .object({
    event: z.enum(["progress", "result"]),
    bytes: z.number().optional(),
    total: z.number().optional(),
    layers: z.number().optional(),
    layersTotal: z.number().optional(),
    result: z.unknown().optional(),
  })
  .openapi("RegistryProgressEvent");

export const wantsProgress = (q: { progress?: string }): boolean => q.progress === "1" || q.progress === "true";

/** Runs `run` and answers its progress and result as NDJSON. */
export function progressAnswer(run: (onProgress: OnRegistryProgress) => Promise<unknown>): Response {
  return ndjson(events(run), new AbortController());
}

async function* events(run: (onProgress: OnRegistryProgress) => Promise<unknown>): AsyncGenerator<unknown> {
  let latest: RegistryProgress | undefined;
  let sent: RegistryProgress | undefined;
  let outcome: { ok: true; value: unknown } | { ok: false; err: unknown } | undefined;
  const done = run((p) => (latest = p)).then(
    (value) => void (outcome = { ok: true, value }),
    (err: unknown) => void (outcome = { ok: false, err }),
  );
  const progress = () => ({ event: "progress", ...latest });
  while (!outcome) {
    await Promise.race([done, sleep(PROGRESS_EVERY_MS)]);
    if (!outcome && latest && latest !== sent) {
      sent = latest;
      yield progress();
    }
  }
  const end = outcome as { ok: true; value: unknown } | { ok: false; err: unknown };
  if (!end.ok) {
    yield { error: toSbxError(end.err).toJSON() };
    return;
  }
  if (latest) yield progress();
  yield { event: "result", result: end.value };
}
