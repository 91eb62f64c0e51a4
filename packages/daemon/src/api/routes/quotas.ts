// Per-project quotas of a cluster (`sbxd --role control`): the most sandboxes, cpus and memory a
// project may hold across the nodes, enforced by placement in the same transaction that places
// (cluster/place-function.ts). Set over the control plane's unix socket (the admin's); a project's
// token may read its own. A daemon that is not a control plane places nothing: failed_precondition.
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { SbxError } from "@sbx-sh/protocol";
import type { Services } from "../../services/services.js";
import type { Api, AppEnv } from "../api-types.js";
import { ErrorBody } from "../schemas/index.js";
import { json, jsonBody } from "./common.js";

const Params = z.object({ name: z.string().min(1).max(128) });
const ProjectQuota = z
  .strictObject({
    maxSandboxes: z.number().int().min(0).max(1_000_000).nullable(),
    maxCpus: z.number().min(0).max(1_000_000).nullable(),
    maxMemoryMb: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .nullable(),
  })
  .openapi("ProjectQuota");

function placer(s: Services) {
  if (!s.cluster)
    throw new SbxError(
      "failed_precondition",
      "quotas limit placement on a cluster: this daemon is not a cluster control plane (sbxd --role control)",
    );
  return s.cluster.placer;
}

function mayRead(c: Context<AppEnv>, name: string): void {
  if (c.get("transport") !== "unix" && name !== c.get("project"))
    throw new SbxError("permission_denied", `this token belongs to project ${c.get("project")}: not ${name}`);
}

export function registerQuotaRoutes(app: Api, s: Services): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/projects/{name}/quota",
      summary: "A project's quota on a cluster control plane (null: no limit)",
      request: { params: Params },
      responses: { 200: json(ProjectQuota, "the quota"), 404: json(ErrorBody, "unknown project") },
    }),
    async (c) => {
      const { name } = c.req.valid("param");
      mayRead(c, name);
      const p = placer(s);
      await s.projects.require(name);
      return c.json(await p.getQuota(name), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "put",
      path: "/v1/projects/{name}/quota",
      summary: "Set a project's quota on a cluster control plane (unix socket); null lifts a limit",
      request: { params: Params, ...jsonBody(ProjectQuota) },
      responses: { 200: json(ProjectQuota, "the quota"), 404: json(ErrorBody, "unknown project") },
    }),
    async (c) => {
      if (c.get("transport") !== "unix")
        throw new SbxError("permission_denied", "quotas are set over the control plane's unix socket only");
      const { name } = c.req.valid("param");
      const p = placer(s);
      await s.projects.require(name);
      await p.setQuota(name, c.req.valid("json"));
      return c.json(await p.getQuota(name), 200);
    },
  );
}
