// Transport: config precedence, headers, error answers mapped to SbxError, unreachable daemons.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SbxError } from "@sbx-sh/protocol";
import { SandboxClient } from "./client.js";
import { TestDaemon } from "../../daemon/src/testing/test-daemon.js";
import { DEFAULT_HOST, resolveConfig } from "./config.js";
import { errorFromResponse, httpStatusOf, Transport, type Body } from "./transport.js";

describe("resolveConfig", () => {
  it("uses defaults when nothing is set", () => {
    const c = resolveConfig({ env: {} });
    expect(c).toMatchObject({
      host: DEFAULT_HOST,
      socketPath: "/run/sbx/sbxd.sock",
      project: "default",
      token: null,
      isDefaultHost: true,
    });
  });

  it("takes env over defaults and options over env", () => {
    const env = { SBX_HOST: "http://10.0.0.1:7070", SBX_TOKEN: "envtok", SBX_PROJECT: "envproj" };
    expect(resolveConfig({ env })).toMatchObject({
      baseUrl: "http://10.0.0.1:7070",
      socketPath: null,
      token: "envtok",
      project: "envproj",
      isDefaultHost: false,
    });
    const c = resolveConfig({ env, host: "unix:///tmp/x.sock", token: "opt", project: "p2" });
    expect(c).toMatchObject({ socketPath: "/tmp/x.sock", token: "opt", project: "p2", isDefaultHost: false });
  });

  it("accepts tcp:// and bare socket paths, rejects nonsense", () => {
    expect(resolveConfig({ env: {}, host: "tcp://h:1" }).baseUrl).toBe("http://h:1");
    expect(resolveConfig({ env: {}, host: "/tmp/s.sock" }).socketPath).toBe("/tmp/s.sock");
    expect(() => resolveConfig({ env: {}, host: "ftp://x" })).toThrow(SbxError);
    expect(() => resolveConfig({ env: {}, host: "unix://relative" })).toThrow(/absolute/);
  });
});

describe("Transport against sbxd", () => {
  let fake: TestDaemon;
  beforeAll(async () => {
    fake = await TestDaemon.start();
  });
  afterAll(() => fake.stop());

  it("sends the project header and a bearer token when there is one", async () => {
    await fake.services.projects.create("team-a");
    const client = new SandboxClient({ host: fake.host, project: "team-a", token: "s3cret", env: {} });
    await client.info();
    const last = fake.requests.at(-1)!;
    expect(last.headers["x-sbx-project"]).toBe("team-a");
    expect(last.headers.authorization).toBe("Bearer s3cret");
    await client.close();
  });

  it("sends the project header only when a project was named, default too", async () => {
    for (const [options, header] of [
      [{}, undefined],
      [{ project: "default" }, "default"],
      [{ env: { SBX_PROJECT: "default" } }, "default"],
    ] as const) {
      const client = new SandboxClient({ host: fake.host, env: {}, ...options });
      expect(client.config.projectNamed).toBe(header !== undefined);
      await client.info();
      expect(fake.requests.at(-1)!.headers["x-sbx-project"]).toBe(header);
      await client.close();
    }
  });

  it("maps {error:{code,message}} answers to SbxError with that code", async () => {
    const client = new SandboxClient({ host: fake.host, env: {} });
    const err = await client.get("nope").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SbxError);
    expect(err).toMatchObject({
      code: "sandbox_not_found",
      message: 'sandbox "nope" does not exist in project default: list sandboxes with `sbx ls -a`',
    });
    expect(httpStatusOf((err as SbxError).code)).toBe(404);
    await expect(client.create({ cpus: 100 })).rejects.toMatchObject({ code: "out_of_range" });
  });

  it("uses the query string for list flags", async () => {
    const client = new SandboxClient({ host: fake.host, env: {} });
    const sb = await client.create({ name: "q1" });
    await client.terminate(sb.id);
    expect((await client.list()).map((s) => s.id)).not.toContain(sb.id);
    expect((await client.list({ all: true })).map((s) => s.id)).toContain(sb.id);
    expect(fake.requests.at(-1)!.url).toBe("/v1/sandboxes?all=1");
  });
});

describe("Transport errors without a proper daemon", () => {
  it("reports daemon_unavailable when the socket does not exist", async () => {
    const t = new Transport({ host: "unix:///nonexistent/dir/sbxd.sock", env: {} });
    const err = await t.json("GET", "/v1/info").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SbxError);
    expect(err).toMatchObject({ code: "daemon_unavailable" });
    expect((err as Error).message).toBe(
      "cannot reach sbxd at unix:///nonexistent/dir/sbxd.sock: start it with `sbx daemon start`",
    );
  });

  it("reports daemon_unavailable when nothing listens (connection refused)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sbx-transport-"));
    const path = join(dir, "stale.sock");
    writeFileSync(path, "");
    const t = new Transport({ host: `unix://${path}`, env: {} });
    await expect(t.json("GET", "/v1/info")).rejects.toMatchObject({ code: "daemon_unavailable" });
    rmSync(dir, { recursive: true, force: true });
  });

  it("reads a bare status as the first code the registry lists with it", async () => {
    const bare = (status: number) => errorFromResponse(status, { text: async () => "" } as unknown as Body);
    expect((await bare(400)).code).toBe("invalid_argument");
    expect((await bare(404)).code).toBe("not_found");
    // A refused WebSocket upgrade (no body) of a sandbox that is not running.
    expect((await bare(409)).code).toBe("sandbox_not_running");
    expect((await bare(412)).code).toBe("failed_precondition");
    expect((await bare(503)).code).toBe("daemon_unavailable");
    expect((await bare(500)).code).toBe("internal");
    expect((await bare(418)).code).toBe("internal");
    expect((await bare(507)).details).toEqual({ status: 507 });
  });

  it("maps answers that are not sbx errors by their HTTP status", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sbx-transport-"));
    const path = join(dir, "plain.sock");
    const server = createServer((req, res) => {
      if (req.url === "/v1/info") res.writeHead(401).end("go away");
      else if (req.url === "/v1/images") res.writeHead(200).end("not json");
      else
        res
          .writeHead(500, { "content-type": "application/json" })
          .end(JSON.stringify({ error: { code: "brand_new_code", message: "newer daemon" } }));
    });
    await new Promise<void>((r) => server.listen(path, r));
    const client = new SandboxClient({ host: path, env: {} });
    await expect(client.info()).rejects.toMatchObject({
      code: "unauthenticated",
      message: "sbxd answered HTTP 401: go away",
    });
    await expect(client.listImages()).rejects.toMatchObject({
      code: "internal",
      message: expect.stringMatching(/not JSON/),
    });
    await expect(client.list()).rejects.toMatchObject({
      code: "internal",
      message: "newer daemon",
      details: { code: "brand_new_code" },
    });
    server.closeAllConnections();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
