// Metrics and the request log through the real daemon: GET /metrics on the unix socket after a real
// create and exec (latency histograms, sandboxes by state, a real sandbox's memory series, Node's
// own), and request ids in headers and error bodies.
import { request } from "node:http";
import { afterAll, describe, expect, inject, it } from "vitest";
import { Sandbox } from "@sbx-sh/sdk";
import { sharedClient } from "./fixtures.js";

const socketPath = inject("sbxHost").replace(/^unix:\/\//, "");
const client = sharedClient();
let sb: Sandbox | undefined;
afterAll(async () => {
  await sb?.terminate().catch(() => undefined);
});

function get(path: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
    const req = request({ socketPath, path, headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

function sample(text: string, prefix: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(prefix));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

describe("metrics and request ids", () => {
  it("serves Prometheus metrics on the unix socket, from real sandboxes", async () => {
    sb = await Sandbox.create({ allowInternetAccess: false }, client);
    expect((await sb.run("true")).exitCode).toBe(0);
    const res = await get("/metrics");
    expect(res.status).toBe(200);
    expect(String(res.headers["content-type"])).toContain("text/plain");
    expect(sample(res.body, "sbx_sandbox_create_seconds_count")).toBeGreaterThanOrEqual(1);
    expect(sample(res.body, "sbx_exec_seconds_count")).toBeGreaterThanOrEqual(1);
    expect(sample(res.body, 'sbx_sandboxes{state="running"')).toBeGreaterThanOrEqual(1);
    expect(
      sample(res.body, 'sbx_http_requests_total{method="POST",route="/v1/sandboxes",status="201"}'),
    ).toBeGreaterThanOrEqual(1);
    // A real cgroup's reading for this sandbox, labelled by id.
    expect(sample(res.body, `sbx_sandbox_memory_bytes{sandbox="${sb.id}"`)).toBeGreaterThan(0);
    expect(sample(res.body, "sbxd_process_resident_memory_bytes")).toBeGreaterThan(0);
    expect(res.body).toContain("sbxd_nodejs_eventloop_lag_seconds");
  });

  it("returns a request id on every answer and in error bodies, and keeps a sane client id", async () => {
    const ok = await get("/v1/info");
    expect(String(ok.headers["x-request-id"])).toMatch(/^req_[A-Za-z0-9_-]{12}$/);
    const missing = await get("/v1/sandboxes/sb-doesnotexist");
    expect(missing.status).toBe(404);
    const body = JSON.parse(missing.body) as { error: { code: string; requestId: string } };
    expect(body.error.code).toBe("sandbox_not_found");
    expect(body.error.requestId).toBe(missing.headers["x-request-id"]);
    const mine = await get("/v1/info", { "x-request-id": "trace-42.a" });
    expect(mine.headers["x-request-id"]).toBe("trace-42.a");
    const hostile = await get("/v1/info", { "x-request-id": "<script>alert(1)</script>" });
    expect(String(hostile.headers["x-request-id"])).toMatch(/^req_/);
  });
});
