// The control plane's routing of the Tensorlake-compatible API (TCP listener, `sbxd --role
// control`), in both of the SDK's forms (flat, and under /v1/namespaces/{ns}): a create is placed
// on a node and made there; a list is gathered from the nodes; every call on one sandbox
// (`/sandboxes/{id}/…`, and the per-sandbox `/api/v1/…` calls named by X-Tensorlake-Sandbox-Id or
// `Host: <id>.local`, WebSockets included) goes to the node that runs it, with the node's key, as
// in api/cluster-routing.ts. Answers name the control plane as `sandbox_url` (the node is told the
// Host and scheme the client used). Pools, archives and copies are refused (cluster-refusals.ts);
// snapshots, templates and image builds are left to the local routes.
import type { Context, MiddlewareHandler } from "hono";
import { SbxError } from "@sbx-sh/protocol";
import type { ClusterRouting } from "../cluster/cluster-role.js";
import { LIMITS } from "../domain/limits.js";
import type { AppEnv, UpgradeWebSocket } from "./api-types.js";
import { MAX_JSON_BYTES } from "./body-limits.js";
import {
  forwardCall,
  pathSegment,
  placeAndCreate,
  resource,
  readCreateBody,
  relaySocket,
  targetOf,
} from "./cluster-calls.js";
import { gatherFromNodes } from "./cluster-gather.js";
import { controlPlaneTlRefusal } from "./cluster-refusals.js";
import { keepMoveRecord } from "./cluster-move-record.js";
import { isUpgrade, refusal, sandboxIdOf } from "./tensorlake/context.js";

const NAMESPACE = /^\/v1\/namespaces\/[^/]+/;
const ROUTED = /^\/(sandboxes|sandbox-pools|archived-sandboxes)(\/|$)|^\/api\/v1\//;
const ONE = /^\/sandboxes\/([^/]+)(\/.*)?$/;

export function clusterTensorlake(
  r: ClusterRouting,
  upgradeWebSocket: UpgradeWebSocket,
  sandboxUrl: (c: Context<AppEnv>) => string,
): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const path = c.req.path;
    const ns = NAMESPACE.exec(path)?.[0] ?? "";
    const flat = path.slice(ns.length);
    // A refused WebSocket is accepted and closed with the reason by the local route (context.ts).
    if (!ROUTED.test(flat) || (isUpgrade(c) && refusal(c))) return next();
    const refused = controlPlaneTlRefusal(flat);
    if (refused) throw refused;
    const project = c.get("project");
    const query = new URL(c.req.url).search;
    if (flat.startsWith("/api/v1/")) {
      const at = await r.directory.locate(project, sandboxIdOf(c));
      const target = targetOf(r, at, project, { "x-tensorlake-sandbox-id": at.sandboxId });
      if (isUpgrade(c)) return relaySocket(c, next, r, target, path + query, upgradeWebSocket);
      return forwardCall(c, r, target, path + query);
    }
    // The node builds `sandbox_url` from the Host and scheme it is told: the control plane's.
    const url = new URL(sandboxUrl(c));
    const here = { host: url.host, "x-forwarded-proto": url.protocol.replace(":", "") };
    if (flat === "/sandboxes" && c.req.method === "POST") return create(c, r, path + query, here);
    if (flat === "/sandboxes" && c.req.method === "GET") {
      const { items } = await gatherFromNodes(
        c,
        r,
        path + query,
        (a) => (a as { sandboxes: Array<{ sandbox_id: string }> }).sandboxes,
        (s) => s.sandbox_id,
        here,
      );
      return c.json({ sandboxes: items }, 200);
    }
    const m = ONE.exec(flat);
    if (!m) return next();
    const at = await r.directory.locate(project, pathSegment(m[1]!));
    if (at.unavailable && c.req.method === "DELETE" && !m[2]) {
      // Its node is lost: given up now, as sbx's own DELETE does (the node destroys it when it comes back).
      const ended = await r.givenUp.terminate(at.sandboxId);
      if (ended) await r.mover?.moves.forget(at.sandboxId, ["suspended"]);
      if (ended)
        return c.json(
          {
            sandbox_id: at.sandboxId,
            namespace: project,
            status: "terminated",
            name: at.name,
            terminated_at: ended.terminatedAt,
            termination_reason: ended.terminationReason,
            sandbox_url: sandboxUrl(c),
          },
          200,
        );
    }
    const nodePath = `${ns}/sandboxes/${encodeURIComponent(at.sandboxId)}${m[2] ?? ""}${query}`;
    const res = await forwardCall(c, r, targetOf(r, at, project, here), nodePath, {
      terminates: c.req.method === "DELETE" && !m[2],
    });
    // As sbx's routes do: a suspend recorded for a move, a resume or terminate forgetting it.
    if (r.mover && res.ok) await keepMoveRecord(r, c.req.method, m[2], at, project);
    return res;
  };
}

async function create(
  c: Context<AppEnv>,
  r: ClusterRouting,
  nodePath: string,
  here: Record<string, string>,
): Promise<Response> {
  const { raw, body } = await readCreateBody(c, MAX_JSON_BYTES);
  if (body.snapshot_id !== undefined && body.snapshot_id !== null)
    throw new SbxError(
      "unimplemented",
      "creating from a snapshot through the control plane is not supported yet: snapshots stay on the node that took them",
    );
  const res = (body.resources ?? {}) as Record<string, unknown>;
  if (typeof res !== "object" || Array.isArray(res))
    throw new SbxError("invalid_argument", "invalid request: resources: expected an object");
  if (body.name !== undefined && body.name !== null && typeof body.name !== "string")
    throw new SbxError("invalid_argument", "invalid request: name: expected a string");
  const want = {
    cpus: resource(res.cpus, LIMITS.cpus, "resources.cpus"),
    memoryMb: Math.ceil(resource(res.memory_mb, LIMITS.memoryMb, "resources.memory_mb")),
    name: (body.name as string | null | undefined) ?? null,
  };
  return placeAndCreate(c, r, want, nodePath, raw, (a) => (a as { sandbox_id?: string }).sandbox_id, here);
}
