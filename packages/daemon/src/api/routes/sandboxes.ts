// Sandbox routes: create, list, get, update the egress policy, terminate.
import { createRoute, z } from "@hono/zod-openapi";
import type { Services } from "../../services/services.js";
import type { Api } from "../api-types.js";
import { labelsMatch, SbxError } from "@sbx-sh/protocol";
import {
  CreateSandboxRequest,
  ErrorBody,
  Sandbox,
  SandboxList,
  SandboxStatus,
  UpdateNetworkRequest,
} from "../schemas/index.js";
import { toSandbox } from "../mappers/sandboxes.js";
import { json, jsonBody } from "./common.js";
import { startEntrypoint } from "../../services/sandbox-entrypoint.js";

export const SandboxParams = z.object({ id: z.string().min(1).max(128) });

const oneOrMany = <T extends z.ZodType>(t: T) => z.union([t, z.array(t)]).optional();
const ListQuery = z.object({
  all: z.enum(["0", "1", "true", "false"]).optional(),
  status: oneOrMany(SandboxStatus).openapi({ description: "only sandboxes in this status (repeatable)" }),
  image: z.string().max(255).optional().openapi({ description: "only sandboxes of this image" }),
  label: oneOrMany(z.string().max(512)).openapi({
    description: "key=value or key: only sandboxes with it (repeatable)",
  }),
});

export function registerSandboxRoutes(app: Api, s: Services): void {
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/sandboxes",
      summary: "Create a sandbox and wait until it runs",
      request: jsonBody(CreateSandboxRequest),
      responses: {
        201: json(Sandbox, "the running sandbox"),
        400: json(ErrorBody, "bad input"),
        404: json(ErrorBody, "unknown image"),
      },
    }),
    async (c) => {
      const { placement, ...req } = c.req.valid("json");
      // A control plane places (api/cluster-routing.ts) and strips this before its node sees it.
      if (Object.keys(placement?.nodeSelector ?? {}).length > 0)
        throw new SbxError(
          "failed_precondition",
          "placement.nodeSelector picks a node of a cluster: this daemon is not a cluster control plane (sbxd --role control)",
        );
      const sb = await s.sandboxes.create(c.get("project"), req);
      await startEntrypoint(s, c.get("project"), sb);
      return c.json(toSandbox(sb), 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/sandboxes",
      summary: "List sandboxes of the project, newest first",
      request: { query: ListQuery },
      responses: { 200: json(SandboxList, "sandboxes") },
    }),
    async (c) => {
      const q = c.req.valid("query");
      const statuses = q.status === undefined ? [] : [q.status].flat();
      const labels = q.label === undefined ? [] : [q.label].flat();
      // Asking for terminated ones by status lists them without `all`.
      const all = ["1", "true"].includes(q.all ?? "") || statuses.includes("terminated");
      const list = (await s.sandboxes.list(c.get("project"), all)).filter(
        (sb) =>
          (statuses.length === 0 || statuses.includes(sb.status)) &&
          (q.image === undefined || sb.image === q.image || sb.image === `${q.image}:latest`) &&
          labelsMatch(sb.labels, labels),
      );
      return c.json({ sandboxes: list.map(toSandbox) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/sandboxes/{id}",
      summary: "Get a sandbox by id or name",
      request: { params: SandboxParams },
      responses: { 200: json(Sandbox, "sandbox"), 404: json(ErrorBody, "unknown") },
    }),
    async (c) => c.json(toSandbox(await s.sandboxes.get(c.get("project"), c.req.valid("param").id)), 200),
  );

  app.openapi(
    createRoute({
      method: "patch",
      path: "/v1/sandboxes/{id}/network",
      summary: "Replace a sandbox's egress policy (allowOut/denyOut) in one atomic step",
      request: { params: SandboxParams, ...jsonBody(UpdateNetworkRequest) },
      responses: {
        200: json(Sandbox, "the sandbox with its new policy"),
        400: json(ErrorBody, "bad entry"),
        404: json(ErrorBody, "unknown"),
        409: json(ErrorBody, "terminated or without network"),
      },
    }),
    async (c) =>
      c.json(
        toSandbox(await s.sandboxes.updateNetwork(c.get("project"), c.req.valid("param").id, c.req.valid("json"))),
        200,
      ),
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/sandboxes/{id}",
      summary: "Terminate a sandbox",
      request: { params: SandboxParams },
      responses: {
        200: json(Sandbox, "terminated sandbox"),
        404: json(ErrorBody, "unknown"),
      },
    }),
    async (c) => c.json(toSandbox(await s.sandboxes.terminate(c.get("project"), c.req.valid("param").id)), 200),
  );
}
