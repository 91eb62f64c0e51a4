import { describe, expect, it, vi } from "vitest";
import type { Services } from "../services/services.js";
import { createApp } from "./app.js";

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
});
