// Sandbox routes beyond the lifecycle: change a running sandbox's timeout (E2B's setTimeout), and
// prune terminated sandboxes' records before their retention ends (`sbx prune`).
import { createRoute, z } from "@hono/zod-openapi";
import { SbxError } from "@sbx-sh/protocol";
import type { Services } from "../../services/services.js";
import type { Api } from "../api-types.js";
import { ErrorBody, Sandbox, SandboxList, UpdateSandboxRequest } from "../schemas/index.js";
import { toSandbox } from "../mappers/sandboxes.js";
import { json, jsonBody } from "./common.js";
import { SandboxParams } from "./sandboxes.js";

const PruneRequest = z
  .strictObject({
    olderThanSecs: z
      .number()
      .int()
      .min(0)
      .optional()
      .openapi({ description: "only those terminated at least this long ago; default 0: all" }),
  })
  .openapi("PruneSandboxesRequest");

export function registerSandboxSettingsRoutes(app: Api, s: Services): void {
  app.openapi(
    createRoute({
      method: "patch",
      path: "/v1/sandboxes/{id}",
      summary: "Change a running sandbox's timeout (counted from now; 0: none)",
      request: { params: SandboxParams, ...jsonBody(UpdateSandboxRequest) },
      responses: {
        200: json(Sandbox, "the sandbox with its new settings"),
        400: json(ErrorBody, "bad input"),
        404: json(ErrorBody, "unknown"),
        409: json(ErrorBody, "not running"),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const body = c.req.valid("json");
      if (body.timeoutSecs === undefined) throw new SbxError("invalid_argument", "nothing to change: give timeoutSecs");
      return c.json(toSandbox(await s.sandboxes.setTimeout(c.get("project"), id, body.timeoutSecs)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/sandboxes/prune",
      summary: "Forget the project's terminated sandboxes now (they are pruned after the retention anyway)",
      request: { body: { content: { "application/json": { schema: PruneRequest } }, required: false } },
      responses: { 200: json(SandboxList, "the forgotten sandboxes") },
    }),
    async (c) => {
      if (!s.retention) throw new SbxError("failed_precondition", "this daemon keeps no retention of sandboxes");
      const body = c.req.header("content-type")?.includes("json") ? c.req.valid("json") : {};
      const gone = await s.retention.prune(c.get("project"), body.olderThanSecs ?? 0);
      return c.json({ sandboxes: gone.map(toSandbox) }, 200);
    },
  );
}
