// API abuse against a real daemon on TCP and its unix socket: every route of /openapi.json aimed
// at another project's objects (denied or scoped, never a leak, nothing changed), requests without
// valid credentials (401, nothing changed), and malformed input (4xx with a stable code, never a
// 500, nothing changed).
import { lstatSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sandbox, SandboxClient } from "@sbx-sh/sdk";
import { freePort, TestDaemon, waitFor } from "../harness.js";
import { abuseCases, BAD_NAMES } from "./api-abuse-cases.js";
import { expectApiError, send, type Endpoint } from "./api-http.js";
import {
  casesFor,
  loadRoutes,
  NEUTRAL_PATHS,
  NODE_ROUTES,
  secrets,
  SHARED_ROUTES,
  UNIX_ADMIN_ROUTES,
  runCase,
  type Route,
} from "./api-routes.js";
import { createVictim, expectVictimIntact, expectVictimUsable, type VictimHandles } from "./api-victim.js";

const ALPHA = "abuse-alpha";
const BETA = "abuse-beta";
let daemon: TestDaemon;
let port = 0;
let admin: SandboxClient;
let alpha: SandboxClient;
let beta: SandboxClient;
let alphaToken = "";
let victim: VictimHandles;
let tcpAlpha: Endpoint;
let unixAlpha: Endpoint;
let routes: Route[];
/** The caller's own sandbox (project alpha): its ids mixed with the victim's must not reach the victim. */
let own: Sandbox;

/** The daemon's stored objects on disk (not inside sandboxes or layers): no abuse may add one. */
function dataFiles(): string[] {
  const root = daemon.env.SBX_DATA_DIR!;
  const out: string[] = [];
  const walk = (dir: string, depth: number): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      out.push(path.slice(root.length));
      if (depth > 0 && lstatSync(path).isDirectory()) walk(path, depth - 1);
    }
  };
  // Layers and sandboxes are listed by name only: their insides are the sandboxes' own files.
  walk(root, 1);
  for (const store of ["contexts", "content"]) walk(join(root, store), 3);
  return out.filter((p) => !p.startsWith("/sbx.db")).sort();
}

/** The objects of every project, and the daemon's files: identical before and after abuse. */
async function worldState(): Promise<unknown> {
  const perProject: Record<string, unknown> = {};
  for (const project of ["default", ALPHA, BETA]) {
    const c = new SandboxClient({ host: daemon.host, project });
    const sandboxes = await c.list({ all: true });
    perProject[project] = {
      sandboxes: await Promise.all(
        sandboxes.map(async (s) => ({
          ...s,
          processes:
            s.status === "running"
              ? (
                  await c.transport.json<{ processes: Array<{ id: string; status: string }> }>(
                    "GET",
                    `/v1/sandboxes/${s.id}/processes`,
                  )
                ).processes.map((p) => `${p.id}:${p.status}`)
              : [],
        })),
      ),
      images: (await c.listImages()).map((i) => `${i.name}:${i.tag}@${i.id}`),
      snapshots: (await c.listSnapshots()).map((s) => `${s.id}:${s.status}`),
      builds: (await c.listBuilds()).map((b) => `${b.id}:${b.state}`),
    };
    await c.close();
  }
  return { projects: (await admin.listProjects()).map((p) => p.name), perProject, files: dataFiles() };
}

beforeAll(async () => {
  port = await freePort();
  daemon = new TestDaemon({ name: "apiabuse", netIndex: 7, extraArgs: ["--listen-tcp", `127.0.0.1:${port}`] });
  await daemon.reset();
  await daemon.start();
  admin = new SandboxClient({ host: daemon.host });
  await admin.createProject(ALPHA);
  await admin.createProject(BETA);
  alphaToken = (await admin.createToken(ALPHA)).token!;
  const betaToken = (await admin.createToken(BETA)).token!;
  alpha = new SandboxClient({ host: `http://127.0.0.1:${port}`, token: alphaToken });
  beta = new SandboxClient({ host: `http://127.0.0.1:${port}`, token: betaToken });
  tcpAlpha = { label: "tcp", port, headers: { authorization: `Bearer ${alphaToken}` } };
  unixAlpha = { label: "unix", socketPath: daemon.socket, headers: { "x-sbx-project": ALPHA } };
  victim = await createVictim(beta, BETA, admin);
  own = await Sandbox.create({ allowInternetAccess: false, name: "abuse-own" }, alpha);
  routes = await loadRoutes(tcpAlpha);
});

afterAll(async () => {
  for (const c of [alpha, beta]) {
    for (const s of (await c?.list().catch(() => [])) ?? []) await c.terminate(s.id).catch(() => undefined);
    await c?.close();
  }
  await admin?.close();
  await daemon?.stop();
});

describe("project isolation matrix", () => {
  const exercised = new Set<string>();

  /** Runs every case and lists every failure (not just the first), then checks the victim. */
  async function runMatrix(ep: Endpoint, transport: "tcp" | "unix"): Promise<number> {
    let requests = 0;
    const failures: string[] = [];
    for (const route of routes) {
      if (SHARED_ROUTES[route.key] || NODE_ROUTES[route.key] || (transport === "unix" && UNIX_ADMIN_ROUTES[route.key]))
        continue;
      for (const c of casesFor(route, victim.v, transport, own.id)) {
        await runCase(ep, c, victim.v, 1).catch((err: unknown) =>
          failures.push(err instanceof Error ? err.message.split("\n")[0]! : String(err)),
        );
        requests++;
      }
      exercised.add(`${transport} ${route.key}`);
    }
    expect(failures).toEqual([]);
    return requests;
  }

  async function expectAlphaUnchanged(): Promise<void> {
    expect((await alpha.list({ all: true })).map((s) => `${s.id}:${s.status}`)).toEqual([`${own.id}:running`]);
    expect(await own.listProcesses()).toEqual([]);
    expect(await alpha.listSnapshots()).toEqual([]);
    expect(await alpha.listBuilds()).toEqual([]);
    expect((await alpha.listImages()).filter((i) => i.project !== null)).toEqual([]);
  }

  it("over TCP, another project's token gets every route denied or scoped to itself, and the victim is untouched", async () => {
    const requests = await runMatrix(tcpAlpha, "tcp");
    console.log(`isolation matrix over tcp: ${routes.length} routes, ${requests} requests`);
    expect(requests).toBeGreaterThanOrEqual(routes.length);
    await expectVictimIntact(beta, victim);
    await expectAlphaUnchanged();
  });

  it("over the unix socket with X-Sbx-Project of another project, the same", async () => {
    const requests = await runMatrix(unixAlpha, "unix");
    console.log(`isolation matrix over unix: ${requests} requests`);
    await expectVictimIntact(beta, victim);
    await expectAlphaUnchanged();
  });

  it("covers every route of openapi.json or names it as an exception, and no stale exception", () => {
    const keys = new Set(routes.map((r) => r.key));
    for (const key of [...Object.keys(SHARED_ROUTES), ...Object.keys(UNIX_ADMIN_ROUTES), ...Object.keys(NODE_ROUTES)])
      expect(keys, `exception ${key} is not a route any more`).toContain(key);
    for (const r of routes) {
      expect(
        exercised.has(`tcp ${r.key}`) || r.key in SHARED_ROUTES || r.key in NODE_ROUTES,
        `tcp ${r.key} neither exercised nor an exception`,
      ).toBe(true);
      expect(
        exercised.has(`unix ${r.key}`) || r.key in SHARED_ROUTES || r.key in NODE_ROUTES || r.key in UNIX_ADMIN_ROUTES,
        `unix ${r.key} neither exercised nor an exception`,
      ).toBe(true);
    }
  });

  it("serves the project-neutral paths to anyone, without the victim's data", async () => {
    for (const path of NEUTRAL_PATHS) {
      const res = await send({ label: "anon", port, headers: {} }, { method: "GET", path });
      expect(res.status, path).toBe(200);
      for (const s of secrets(victim.v)) expect(res.text.includes(s), `${path} leaked ${s}`).toBe(false);
    }
  });

  it("leaves the victim's objects working: stdin only has its own bytes, its snapshot restores its file", async () => {
    const restored = await expectVictimUsable(beta, victim);
    // Its directory goes after terminate answered: wait, so later tests' "nothing changed" hold.
    await waitFor(
      async () => !dataFiles().includes(`/sandboxes/${restored}`) || undefined,
      30_000,
      "the terminated sandbox's files removed",
    );
  });
});

describe("authentication over TCP", () => {
  it("answers 401 unauthenticated on every route to a missing, wrong or malformed token, and changes nothing", async () => {
    const before = await worldState();
    const variants: Array<Record<string, string>> = [
      {},
      { authorization: "Bearer sbxt_0000000000000000000000000000000000000000000000" },
      { authorization: "Bearer" },
      { authorization: "Bearer " },
      { authorization: "bearer" },
      { authorization: "Basic YWJ1c2U6YWJ1c2U=" },
      { authorization: `Token ${alphaToken}` },
      { authorization: `Bearer ${alphaToken} ${alphaToken}` },
      { authorization: `Bearer ${alphaToken}x` },
      { authorization: `Bearer ${alphaToken.slice(0, -1)}` },
      { authorization: `${alphaToken}` },
      { authorization: `Bearer ${"a".repeat(4000)}` },
      { authorization: "Bearer ../../../etc/passwd" },
      { "x-sbx-project": BETA },
      { authorization: "", "x-sbx-project": "default" },
    ];
    let requests = 0;
    for (const route of routes) {
      const path = route.path.replace(/\{\w+\}/g, victim.v.sandboxId);
      for (const headers of variants) {
        const body = route.bodyTypes.length ? "{}" : undefined;
        const res = await send(
          { label: "auth", port, headers },
          { method: route.method, path: `${path}?token=${alphaToken}`, body },
        );
        expectApiError(res, `${route.key} with ${JSON.stringify(headers).slice(0, 80)}`, {
          status: 401,
          codes: ["unauthenticated"],
        });
        requests++;
      }
    }
    const unknown = await send({ label: "auth", port, headers: {} }, { method: "GET", path: "/v1/no-such-route" });
    expectApiError(unknown, "unknown route without a token", { status: 401, codes: ["unauthenticated"] });
    console.log(`auth matrix: ${routes.length} routes x ${variants.length} credentials = ${requests} requests`);
    expect(await worldState()).toEqual(before);
  });

  it("refuses bad project names over the socket, where projects are managed", async () => {
    const before = await worldState();
    for (const name of [...BAD_NAMES, 5, null]) {
      const res = await send(
        { label: "unix", socketPath: daemon.socket, headers: {} },
        { method: "POST", path: "/v1/projects", body: JSON.stringify({ name }) },
      );
      expectApiError(res, `create project ${JSON.stringify(name)?.slice(0, 40)}`, { status: 400 });
    }
    expect(await worldState()).toEqual(before);
  });

  it("refuses an unknown project on the socket with a stable code", async () => {
    for (const project of ["no-such-project", "UPPER", "../etc", "", "a b"]) {
      const res = await send(
        { label: "unix", socketPath: daemon.socket, headers: { "x-sbx-project": project } },
        { method: "GET", path: "/v1/sandboxes" },
      );
      expectApiError(res, `X-Sbx-Project ${JSON.stringify(project)}`, { codes: ["project_not_found", "invalid_name"] });
    }
  });
});

describe("malformed input", () => {
  beforeAll(async () => {
    await own.writeFile("/work/keep.txt", "kept");
  });

  it("answers every malformed request with a 4xx and a stable code, never a 500, and changes nothing", async () => {
    const proc = await own.startProcess("sleep", { args: ["3600"] });
    const snapshot = await own.snapshot();
    const before = await worldState();
    const listing = async (): Promise<string[]> =>
      [
        ...(await own.listDirectory("/work")).entries.map((e) => `/work/${e.name}`),
        ...(await own.listDirectory("/")).entries.map((e) => `/${e.name}`),
      ].sort();
    const filesBefore = await listing();
    const cases = abuseCases({ sandboxId: own.id, processId: proc.id, snapshotId: snapshot.id });
    const failures: string[] = [];
    for (const c of cases) {
      try {
        expectApiError(await send(tcpAlpha, c.req, 30_000), c.name, { codes: c.codes });
      } catch (err) {
        failures.push(`${c.name}: ${err instanceof Error ? err.message.split("\n")[0]! : String(err)}`);
      }
    }
    console.log(`malformed input: ${cases.length} requests, ${failures.length} failures`);
    expect(failures).toEqual([]);
    expect(await worldState()).toEqual(before);
    expect(await listing()).toEqual(filesBefore);
    expect((await own.readFile("/work/keep.txt")).toString()).toBe("kept");
    expect((await proc.info()).status).toBe("running");
  });

  it("leaves request lines and headers beyond 16 KiB to the HTTP parser (431), changing nothing", async () => {
    const before = await worldState();
    expect((await send(tcpAlpha, { method: "GET", path: `/v1/sandboxes/${"x".repeat(20_000)}` })).status).toBe(431);
    expect(
      (
        await send(
          { ...tcpAlpha, headers: { ...tcpAlpha.headers, "x-pad": "y".repeat(20_000) } },
          { method: "DELETE", path: `/v1/sandboxes/${own.id}` },
        )
      ).status,
    ).toBe(431);
    expect(await worldState()).toEqual(before);
    expect((await own.info()).status).toBe("running");
  });

  it("refuses uploads beyond the files cap from the declared length, before reading them", async () => {
    const before = await worldState();
    for (const path of [
      `/v1/sandboxes/${own.id}/files?path=/work/huge`,
      `/v1/sandboxes/${own.id}/archive?path=/work/huge`,
    ]) {
      const res = await send(tcpAlpha, {
        method: "PUT",
        path,
        body: "x",
        headers: { "content-type": "application/octet-stream", "content-length": String(1024 * 1024 * 1024 + 1) },
      });
      expectApiError(res, `PUT ${path} declaring 1 GiB + 1`, { status: 413, codes: ["payload_too_large"] });
    }
    expect(await worldState()).toEqual(before);
    await expect(own.readFile("/work/huge")).rejects.toMatchObject({ code: "file_not_found" });
  });
});
