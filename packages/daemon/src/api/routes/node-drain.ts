// `POST /v1/nodes/{name}/drain` on a control plane (unix socket, operators): the node takes no new
// sandboxes, and each named sandbox on it moves to another node (cluster/sandbox-mover.ts). The
// answer is NDJSON as the drain goes: `{"event":"sandbox","sandbox":{…}}` per step of each sandbox,
// then `{"event":"result","result":{…}}`, or an `{"error":{…}}` line if the drain itself failed. A
// sandbox that cannot move is reported and stays, running; the drain can be run again.
import { createRoute, z } from "@hono/zod-openapi";
import { SbxError, toSbxError, type DrainOutcome } from "@sbx-sh/protocol";
import type { Services } from "../../services/services.js";
import type { Api } from "../api-types.js";
import { DrainEvent, ErrorBody } from "../schemas/index.js";
import { json, ndjson } from "./common.js";

export function registerNodeDrainRoute(app: Api, s: Services): void {
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/nodes/{name}/drain",
      summary:
        "Drain a node: no new sandboxes there; its named sandboxes move to other nodes (control plane, unix socket)",
      request: { params: z.object({ name: z.string() }) },
      responses: {
        200: {
          content: { "application/x-ndjson": { schema: DrainEvent } },
          description: "NDJSON: each sandbox's outcome as it happens, then the summary",
        },
        404: json(ErrorBody, "no such node"),
        412: json(ErrorBody, "not a control plane, or no cluster registry"),
      },
    }),
    async (c) => {
      if (c.get("transport") !== "unix")
        throw new SbxError("permission_denied", "nodes are managed over the control plane's unix socket only");
      if (!s.nodes)
        throw new SbxError(
          "failed_precondition",
          "this daemon is not a cluster control plane: start it with --role control --store postgres://…",
        );
      const mover = s.cluster?.mover;
      if (!mover)
        throw new SbxError(
          "failed_precondition",
          "moving sandboxes needs the cluster registry: start the control plane and the nodes with --registry host:port " +
            "(`sbx node cordon` stops new placements without it)",
        );
      const name = c.req.valid("param").name;
      if (!(await s.nodes.list()).some((n) => n.name === name))
        throw new SbxError("not_found", `no node named ${name}`);
      return ndjson(events(mover.drain.bind(mover), name), new AbortController()) as never;
    },
  );
}

/** The drain's steps as they happen, then its summary (or the error that stopped it). */
async function* events(
  drain: (node: string, on: (o: DrainOutcome) => void) => Promise<unknown>,
  node: string,
): AsyncGenerator<unknown> {
  const queue: DrainOutcome[] = [];
  let wake: (() => void) | undefined;
  let end: { ok: true; value: unknown } | { ok: false; err: unknown } | undefined;
  // The drain goes on if the client goes away: a half-done move is worse than an unread answer.
  void drain(node, (o) => {
    queue.push(o);
    wake?.();
  }).then(
    (value) => {
      end = { ok: true, value };
      wake?.();
    },
    (err: unknown) => {
      end = { ok: false, err };
      wake?.();
    },
  );
  for (;;) {
    while (queue.length) yield { event: "sandbox", sandbox: queue.shift() };
    if (end) break;
    await new Promise<void>((resolve) => (wake = resolve));
    wake = undefined;
  }
  if (end.ok) yield { event: "result", result: end.value };
  else yield { error: toSbxError(end.err).toJSON() };
}
