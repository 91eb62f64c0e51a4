import { describe, expect, it, vi } from "vitest";
import type { Services } from "../services/services.js";
import { Hono } from "hono";
import type { Logger } from "../common/log.js";
import type { AppEnv } from "./api-types.js";
import { createApp } from "./app.js";
import { requestLog } from "./request-log.js";

function setup() {
  const log = { info: vi.fn(), warn: vi.fn(), error: vi.fn() };
  const services = {
    version: "0.0.0-test",
    log,
    projects: { require: async () => undefined },
    info: () => ({ runtime: "fake", cgroupVersion: 2 as const, dataDir: "/tmp" }),
  };
  return { app: createApp(services as unknown as Services, "unix"), log };
}

describe("request log", () => {
  it("logs one line per request with its id, route template and status", async () => {
    const { app, log } = setup();
    const res = await app.request("/healthz");
    const id = res.headers.get("x-request-id");
    expect(id).toMatch(/^req_/);
    expect(log.info).toHaveBeenCalledWith(
      expect.objectContaining({ req: id, method: "GET", route: "/healthz", status: 200 }),
      "request",
    );
  });

  it("labels a request no route matched as unmatched, with the id in the error body", async () => {
    const { app, log } = setup();
    const res = await app.request("/v1/nothing-here/sb-123");
    const body = (await res.json()) as { error: { code: string; requestId: string } };
    expect(res.status).toBe(404);
    expect(body.error.requestId).toBe(res.headers.get("x-request-id"));
    expect(log.info).toHaveBeenCalledWith(expect.objectContaining({ route: "unmatched", status: 404 }), "request");
  });

  it("labels a call a middleware answered (the control plane's forwarding) by its path's template", async () => {
    const log = { info: vi.fn(), warn: vi.fn(), error: vi.fn() };
    // As on a control replica: api/cluster-routing.ts answers from a `/v1/*` middleware, before any route.
    const app = new Hono<AppEnv>();
    app.use("*", requestLog(log as unknown as Logger, undefined));
    app.use("/v1/*", async (c) => c.json({ forwarded: true }, 200));
    await app.request("/v1/sandboxes/sb-9/processes/p1/output");
    await app.request("/v1/sandboxes/sb-9/made-up");
    expect(log.info.mock.calls.map(([line]) => (line as { route: string }).route)).toEqual([
      "/v1/sandboxes/:id/processes/:pid/output",
      "unmatched",
    ]);
  });
});
