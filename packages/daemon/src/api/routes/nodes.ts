// Cluster routes of a control-plane daemon (`sbxd --role control`): operators list and add nodes
// over the unix socket; node daemons register and heartbeat under /cluster/v1 with their node
// token, outside /v1's project authentication (a node token is not a project's and opens nothing
// else). On a daemon that is not a control plane every one of them is failed_precondition.
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { SbxError } from "@sbx-sh/protocol";
import type { NodeRegistry } from "../../cluster/node-registry.js";
import { instanceOf, NODE_INSTANCE_HEADER } from "../../cluster/node-instance.js";
import type { Services } from "../../services/services.js";
import type { Api, AppEnv } from "../api-types.js";
import {
  AddNodeRequest,
  ClusterNode,
  ErrorBody,
  NodeCredential,
  NodeLease,
  NodeReport,
  SetNodeStateRequest,
} from "../schemas/index.js";
import { bodyLimits } from "../body-limits.js";
import { json, jsonBody } from "./common.js";

function registry(s: Services): NodeRegistry {
  if (!s.nodes)
    throw new SbxError(
      "failed_precondition",
      "this daemon is not a cluster control plane: start it with --role control --store postgres://…",
    );
  return s.nodes;
}

function adminOnly(c: Context<AppEnv>): void {
  if (c.get("transport") !== "unix")
    throw new SbxError("permission_denied", "nodes are managed over the control plane's unix socket only");
}

export function nodeToken(c: Context): string {
  const m = /^Bearer (\S+)$/i.exec(c.req.header("authorization") ?? "");
  if (!m) throw new SbxError("unauthenticated", "a node token is required: Authorization: Bearer <SBX_NODE_TOKEN>");
  return m[1]!;
}

/** The node daemon's instance id (node-instance.ts), absent from older node daemons. */
const instance = (c: Context): string | undefined => instanceOf(c.req.header(NODE_INSTANCE_HEADER));

/** A node refused for its credential is worth an operator's attention: logged with where it came from. */
async function refusalsLogged<T>(c: Context, s: Services, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof SbxError && (err.code === "unauthenticated" || err.code === "already_exists"))
      s.log.warn({ path: c.req.path, from: c.req.header("x-forwarded-for") ?? null }, "node refused: " + err.message);
    throw err;
  }
}

export function registerNodeRoutes(app: Api, s: Services): void {
  app.use("/cluster/*", bodyLimits());
  // The credential first, before the body is even read: a caller without a valid node token learns
  // nothing (401), not how a report is shaped (400). No node token is valid on a daemon that is not
  // a control plane.
  app.use("/cluster/v1/*", async (c, next) => {
    await refusalsLogged(c, s, async () => {
      const token = nodeToken(c);
      if (!s.nodes) throw new SbxError("unauthenticated", "unknown node token: this daemon is not a control plane");
      await s.nodes.authenticate(token);
    });
    await next();
  });
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/nodes",
      summary: "List the cluster's nodes with capacity, allocations and lease (control plane, unix socket)",
      responses: { 200: json(z.object({ nodes: z.array(ClusterNode) }), "nodes") },
    }),
    async (c) => {
      adminOnly(c);
      return c.json({ nodes: await registry(s).list() }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/nodes",
      summary: "Add a node and issue its credential (shown once; control plane, unix socket)",
      request: jsonBody(AddNodeRequest),
      responses: { 201: json(NodeCredential, "the node's credential"), 409: json(ErrorBody, "exists") },
    }),
    async (c) => {
      adminOnly(c);
      const body = c.req.valid("json");
      return c.json(await registry(s).add(body.name, body.labels ?? {}), 201);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/nodes/{name}/state",
      summary: "Cordon, drain, ready or revoke a node (control plane, unix socket)",
      request: { params: z.object({ name: z.string() }), ...jsonBody(SetNodeStateRequest) },
      responses: { 200: json(ClusterNode, "the node"), 404: json(ErrorBody, "no such node") },
    }),
    async (c) => {
      adminOnly(c);
      const { name } = c.req.valid("param");
      await registry(s).setState(name, c.req.valid("json").state);
      const node = (await registry(s).list()).find((n) => n.name === name);
      if (!node) throw new SbxError("not_found", `no node named ${name}`);
      return c.json(node, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/cluster/v1/register",
      summary: "A node daemon (re)joins with its report and gets a lease (Authorization: Bearer <node token>)",
      request: jsonBody(NodeReport),
      responses: { 200: json(NodeLease, "lease"), 401: json(ErrorBody, "unknown or revoked node token") },
    }),
    async (c) => {
      const lease = await refusalsLogged(c, s, () =>
        registry(s).register(nodeToken(c), c.req.valid("json"), instance(c)),
      );
      s.log.info({ node: lease.name }, "node registered");
      s.cluster?.mover?.recordReported(lease.name, c.req.valid("json").suspended);
      return c.json(lease, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/cluster/v1/heartbeat",
      summary: "A node daemon renews its lease (412 when it was lost: register again)",
      request: jsonBody(NodeReport),
      responses: { 200: json(NodeLease, "lease"), 412: json(ErrorBody, "no live lease") },
    }),
    async (c) => {
      const lease = await refusalsLogged(c, s, () =>
        registry(s).heartbeat(nodeToken(c), c.req.valid("json"), instance(c)),
      );
      // Sandboxes the node suspended by itself (their timeout): their snapshots recorded, in the background.
      s.cluster?.mover?.recordReported(lease.name, c.req.valid("json").suspended);
      return c.json(lease, 200);
    },
  );
}
