// Sandbox pool routes: create, list, get, delete, and claim a running sandbox from a pool.
import { createRoute, z } from "@hono/zod-openapi";
import type { PoolInfo } from "@sbx-sh/protocol";
import type { PoolRecord } from "../../services/pool-service.js";
import type { Services } from "../../services/services.js";
import type { Api } from "../api-types.js";
import { CreatePoolRequest, ErrorBody, Pool, PoolList, Sandbox } from "../schemas/index.js";
import { toSandbox } from "../mappers/sandboxes.js";
import { json, jsonBody } from "./common.js";

const PoolParams = z.object({ id: z.string().min(1).max(128) });

export async function toPool(s: Services, p: PoolRecord): Promise<PoolInfo> {
  return {
    id: p.id,
    project: p.project,
    image: p.image ?? null,
    cpus: p.cpus ?? null,
    memoryMb: p.memoryMb ?? null,
    diskMb: p.diskMb ?? null,
    timeoutSecs: p.timeoutSecs ?? null,
    allowInternetAccess: p.allowInternetAccess ?? true,
    warm: p.warm,
    max: p.max,
    ready: await s.pools.ready(p),
    ...s.pools.statsOf(p.id),
    createdAt: p.createdAt || null,
  };
}

export function registerPoolRoutes(app: Api, s: Services): void {
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/pools",
      summary: "Create a sandbox pool: warm sandboxes of an image, claimed at once",
      request: jsonBody(CreatePoolRequest),
      responses: { 201: json(Pool, "the pool"), 400: json(ErrorBody, "bad input"), 404: json(ErrorBody, "no image") },
    }),
    async (c) => c.json(await toPool(s, await s.pools.create(c.get("project"), c.req.valid("json"))), 201),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/pools",
      summary: "List the project's pools (the default project also shows the daemon's default pool)",
      responses: { 200: json(PoolList, "pools") },
    }),
    async (c) => c.json({ pools: await Promise.all(s.pools.list(c.get("project")).map((p) => toPool(s, p))) }, 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/pools/{id}",
      summary: "Get a pool with its statistics",
      request: { params: PoolParams },
      responses: { 200: json(Pool, "pool"), 404: json(ErrorBody, "unknown") },
    }),
    async (c) => c.json(await toPool(s, s.pools.get(c.get("project"), c.req.valid("param").id)), 200),
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/pools/{id}",
      summary: "Delete a pool: its warm sandboxes go; claimed ones stay",
      request: { params: PoolParams },
      responses: { 200: json(Pool, "the removed pool"), 404: json(ErrorBody, "unknown") },
    }),
    async (c) => c.json(await toPool(s, await s.pools.remove(c.get("project"), c.req.valid("param").id)), 200),
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/pools/{id}/sandboxes",
      summary: "Claim a running sandbox from the pool (a warm one when ready); the pool refills",
      request: { params: PoolParams },
      responses: {
        201: json(Sandbox, "the running sandbox"),
        404: json(ErrorBody, "unknown pool"),
        412: json(ErrorBody, "pool at its max"),
      },
    }),
    async (c) => c.json(toSandbox(await s.pools.claim(c.get("project"), c.req.valid("param").id)), 201),
  );
}
