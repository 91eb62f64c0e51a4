// Stats routes: one running sandbox's resource use, or every running sandbox's of the project.
import { createRoute, z } from "@hono/zod-openapi";
import type { StatsService } from "../../services/stats-service.js";
import type { Api } from "../api-types.js";
import { toUsage } from "../mappers/stats.js";
import { ErrorBody, SandboxUsage, StatsQuery } from "../schemas/index.js";
import { json } from "./common.js";
import { SandboxParams } from "./sandboxes.js";

export function registerStatsRoutes(app: Api, stats: StatsService): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/sandboxes/{id}/stats",
      summary: "A running sandbox's cpu, memory, pids, disk and network use",
      request: { params: SandboxParams },
      responses: {
        200: json(SandboxUsage, "usage"),
        404: json(ErrorBody, "unknown sandbox"),
        409: json(ErrorBody, "not running"),
      },
    }),
    async (c) => c.json(toUsage(await stats.get(c.get("project"), c.req.valid("param").id)), 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/stats",
      summary: "Resource use of the project's running sandboxes (or of the ones named)",
      request: { query: StatsQuery },
      responses: {
        200: json(z.object({ stats: z.array(SandboxUsage) }), "usage"),
        404: json(ErrorBody, "unknown sandbox"),
      },
    }),
    async (c) => {
      const ids = (c.req.valid("query").ids ?? "").split(",").filter(Boolean);
      return c.json({ stats: (await stats.list(c.get("project"), ids)).map(toUsage) }, 200);
    },
  );
}
