// Contract tests, continued: sandbox pools through the real `tensorlake` SDK and through sbx's own
// CLI and SDK (claims, stats, max, the rolling replacement of warm sandboxes on real crun), and the
// raw wire where the SDK hides it (SSE framing, statuses, a dropped stream, a refused upgrade).
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sandbox, type SandboxClient } from "@sbx-sh/sdk";
import { REPO, type TestDaemon } from "./harness.js";
import { startTensorlakeDaemon, type TensorlakeDaemon } from "./tensorlake/daemon.js";
import { runSdk, type SdkTarget } from "./tensorlake/sdk.js";

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON an SDK script returned: the assertions check its shape
type Seen = Record<string, any>;

let tl: TensorlakeDaemon;
let daemon: TestDaemon;
let admin: SandboxClient;
let target: SdkTarget;
let base = "";

beforeAll(async () => {
  tl = await startTensorlakeDaemon("tensorlake-pools", 8);
  ({ daemon, admin, target, base } = tl);
});
afterAll(() => tl.stop());

describe("sandbox pools", () => {
  it("creates, claims from, lists, updates and deletes a pool through the tensorlake SDK", async () => {
    const out = await runSdk<Seen>(
      target,
      `const client = new tl.SandboxClient({ apiUrl: env.apiUrl, apiKey: env.apiKey });
       const { poolId, namespace } = await client.createPool({ image: "tensorlake/debian-minimal", warmContainers: 1, maxContainers: 3, cpus: 1, memoryMb: 256 });
       const got = await client.getPool(poolId);
       const listed = (await client.listPools()).map((p) => p.poolId);
       const claimed = await client.claim(poolId);
       const sb = await tl.Sandbox.connect({ apiUrl: env.apiUrl, apiKey: env.apiKey, sandboxId: claimed.sandboxId });
       const run = await sb.run("echo", { args: ["pooled"] });
       const info = await sb.info();
       const updated = await client.updatePool(poolId, { image: "debian-minimal", warmContainers: 0, maxContainers: 1 });
       let atMax; try { await client.claim(poolId); } catch (e) { atMax = String(e.message); }
       await sb.terminate();
       let bad; try { await client.createPool({ image: "debian-minimal", warmContainers: 2, maxContainers: 1 }); } catch (e) { bad = String(e.message); }
       await client.deletePool(poolId);
       let gone; try { await client.getPool(poolId); } catch (e) { gone = e.constructor.name + " " + e.message; }
       return { poolId, namespace, got, listed, claimed, run, info, updated, atMax, bad, gone, after: (await client.listPools()).length };`,
    );
    expect(out.namespace).toBe("default");
    expect(out.got).toMatchObject({ poolId: out.poolId, warmContainers: 1, maxContainers: 3 });
    expect(out.listed).toContain(out.poolId);
    expect(out.claimed.status).toBe("running");
    expect(out.run.stdout).toBe("pooled");
    expect(out.info).toMatchObject({ poolId: out.poolId, resources: { cpus: 1, memoryMb: 256 } });
    expect(out.updated).toMatchObject({ warmContainers: 0, maxContainers: 1 });
    expect(out.atMax).toContain("max_containers");
    expect(out.bad).toContain("out_of_range");
    expect(out.gone).toMatch(/NotFound|404/);
  });

  it("serves sbx's own pools: the CLI creates and lists, Sandbox.create({ pool }) claims warm", async () => {
    const cli = (...args: string[]) => {
      const r = spawnSync(process.execPath, [join(REPO, "packages", "cli", "bin", "sbx.js"), ...args], {
        env: { ...process.env, SBX_HOST: daemon.host },
        encoding: "utf8",
      });
      expect(r.status, r.stderr).toBe(0);
      return r.stdout;
    };
    const id = cli("pool", "create", "--warm", "1", "--max", "4", "-q").trim();
    const ready = async () => (await admin.getPool(id)).ready === 1;
    for (let i = 0; i < 200 && !(await ready()); i++) await new Promise((r) => setTimeout(r, 50));
    const sb = await Sandbox.create({ pool: id }, admin);
    expect((await sb.run("echo", { args: ["warm"] })).stdout).toBe("warm\n");
    const pool = await admin.getPool(id);
    expect(pool).toMatchObject({ claims: 1, hits: 1, misses: 0, max: 4 });
    expect(pool.claimP50Ms).toEqual(expect.any(Number));
    const listed = JSON.parse(cli("pool", "ls", "--json")) as Array<{ id: string }>;
    expect(listed.map((p) => p.id)).toEqual(expect.arrayContaining(["default", id]));
    await sb.terminate();
    expect(cli("pool", "rm", id)).toContain(id);
    await expect(admin.getPool(id)).rejects.toMatchObject({ code: "not_found" });
  });
});

describe("pool rollout", () => {
  it("replaces warm sandboxes when the pool's image name is re-pointed, and claims get the new image", async () => {
    const src = await Sandbox.create({ name: "pool-src", allowInternetAccess: false }, admin);
    const version = async (v: string, replace: boolean) => {
      await src.writeFile("/v", v);
      return admin.registerImage("rolled", (await src.snapshot()).id, { replace });
    };
    const v1 = await version("1", false);
    const pool = await admin.createPool({ image: "rolled", warm: 1, allowInternetAccess: false });
    const until = async (ok: () => Promise<boolean>) => {
      for (let i = 0; i < 400 && !(await ok()); i++) await new Promise((r) => setTimeout(r, 50));
    };
    await until(async () => (await admin.getPool(pool.id)).ready === 1);
    const v2 = await version("2", true);
    expect(v2.id).not.toBe(v1.id);
    // The warm sandbox of v1 is replaced by one of v2 (`ready` counts the image the name points at
    // now), which the next claim is served from.
    const served = await admin.getPool(pool.id);
    await until(async () => (await admin.getPool(pool.id)).ready === 1);
    const sb = await Sandbox.create({ pool: pool.id }, admin);
    expect((await sb.readFile("/v")).toString()).toBe("2");
    const after = await admin.getPool(pool.id);
    expect(after.claims).toBe(served.claims + 1);
    expect(after.hits).toBe(1);
    await sb.terminate();
    await src.terminate();
    await admin.deletePool(pool.id);
  });
});

describe("the tensorlake wire, raw", () => {
  let sb = "";
  beforeAll(async () => {
    const r = await fetch(`${base}/sandboxes`, { method: "POST", headers: auth(), body: "{}" });
    sb = ((await r.json()) as { sandbox_id: string }).sandbox_id;
  });

  it("streams a run as server-sent events", async () => {
    const r = await fetch(`${base}/api/v1/processes/run`, {
      method: "POST",
      headers: {
        ...auth(),
        "x-tensorlake-sandbox-id": sb,
        accept: "text/event-stream",
        "content-type": "application/json",
      },
      body: JSON.stringify({ command: "sh", args: ["-c", "printf 'a\\nb'"] }),
    });
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toContain("text/event-stream");
    const events = (await r.text()).split("\n\n").filter(Boolean);
    expect(events.every((e) => e.startsWith("data: "))).toBe(true);
    const data = events.map((e) => JSON.parse(e.slice(6)) as Record<string, unknown>);
    expect(data[0]).toEqual({ pid: expect.any(Number), started_at: expect.any(Number) });
    expect(data.slice(1, 3).map((d) => [d.line, d.stream])).toEqual([
      ["a", "stdout"],
      ["b", "stdout"],
    ]);
    expect(data.at(-1)).toEqual({ exit_code: 0 });
  });

  it("survives a client that drops a run stream: the process runs on to its end", async () => {
    const abort = new AbortController();
    const r = await fetch(`${base}/api/v1/processes/run`, {
      method: "POST",
      signal: abort.signal,
      headers: { ...auth(), "x-tensorlake-sandbox-id": sb, "content-type": "application/json" },
      body: JSON.stringify({ command: "sh", args: ["-c", "sleep 0.5; echo finished"] }),
    });
    const reader = r.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    const pid = (JSON.parse(first.slice("data: ".length)) as { pid: number }).pid;
    abort.abort();
    const get = () =>
      fetch(`${base}/api/v1/processes/${pid}`, { headers: { ...auth(), "x-tensorlake-sandbox-id": sb } }).then(
        (x) => x.json() as Promise<{ status: string; exit_code: number }>,
      );
    let p = await get();
    for (let i = 0; i < 100 && p.status === "running"; i++) {
      await new Promise((res) => setTimeout(res, 50));
      p = await get();
    }
    expect(p).toMatchObject({ status: "exited", exit_code: 0 });
  });

  it("answers the statuses the SDK expects, and bad input changes nothing", async () => {
    const count = async () => (await admin.list()).length;
    const before = await count();
    const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = auth()) =>
      fetch(`${base}${path}`, {
        method,
        headers: { ...headers, "x-tensorlake-sandbox-id": sb },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    expect((await call("GET", "/v1/namespaces/default/sandboxes", undefined, {})).status).toBe(401);
    expect((await call("GET", "/sandboxes", undefined, { authorization: "Bearer nope" })).status).toBe(401);
    expect((await call("GET", "/sandboxes/sb-nothere")).status).toBe(404);
    expect((await call("GET", "/api/v1/processes/4242")).status).toBe(404);
    expect((await call("GET", "/api/v1/processes/not-a-pid")).status).toBe(404);
    expect((await call("POST", "/sandboxes", { resources: { gpus: [{ count: 1, model: "A10" }] } })).status).toBe(501);
    expect((await call("POST", "/sandboxes", { resources: { cpus: "many" } })).status).toBe(400);
    expect(
      (await call("POST", `/sandboxes/${sb}/file_systems`, { file_system_id: "x", mount_path: "/m" })).status,
    ).toBe(501);
    expect((await call("POST", "/api/v1/processes", { command: "true", name: "managed" })).status).toBe(501);
    expect(await count()).toBe(before);
  });

  it("refuses the issue's bad inputs with coded errors, and changes nothing", async () => {
    const call = (method: string, path: string, body?: string, headers: Record<string, string> = auth()) =>
      fetch(`${base}${path}`, { method, headers: { "x-tensorlake-sandbox-id": sb, ...headers }, body });
    const code = async (r: Response) => ((await r.json()) as { error: { code: string } }).error.code;
    const sandboxes = async () => (await admin.list()).map((s) => `${s.id}:${s.status}`).sort();
    const processes = async () => (await (await call("GET", "/api/v1/processes")).json()) as { processes: unknown[] };
    const before = { sandboxes: await sandboxes(), processes: (await processes()).processes.length };

    // An unknown namespace: refused before anything is created.
    const ns = await call("POST", "/v1/namespaces/no-such-ns/sandboxes", "{}");
    expect([ns.status, await code(ns)]).toEqual([403, "permission_denied"]);

    // Another project's sandbox: not found, for reads, runs and deletes alike.
    await admin.createProject("tl-bad");
    const other = { authorization: `Bearer ${(await admin.createToken("tl-bad")).token!}` };
    for (const [method, path, body] of [
      ["GET", `/sandboxes/${sb}`],
      ["DELETE", `/sandboxes/${sb}`],
      ["POST", "/api/v1/processes/run", JSON.stringify({ command: "true" })],
    ] as const) {
      const r = await call(method, path, body, other);
      expect([`${method} ${path}`, r.status, await code(r)]).toEqual([`${method} ${path}`, 404, "sandbox_not_found"]);
    }

    // A pid that never existed, for every per-process call.
    for (const [method, path, body] of [
      ["POST", "/api/v1/processes/4242/signal", JSON.stringify({ signal: 15 })],
      ["DELETE", "/api/v1/processes/4242"],
      ["POST", "/api/v1/processes/4242/stdin", "data"],
      ["GET", "/api/v1/processes/4242/output/follow"],
    ] as const) {
      const r = await call(method, path, body);
      expect([`${method} ${path}`, r.status, await code(r)]).toEqual([`${method} ${path}`, 404, "process_not_found"]);
    }

    // A malformed client of the SSE run: a body that is not JSON, or no command, gets a JSON error, not a stream.
    for (const body of ["{not json", JSON.stringify({ args: ["x"] })]) {
      const r = await call("POST", "/api/v1/processes/run", body, { ...auth(), accept: "text/event-stream" });
      expect(r.headers.get("content-type")).toContain("application/json");
      expect([r.status, await code(r)]).toEqual([400, "invalid_argument"]);
    }

    // A pool with max_containers < warm_containers, created or updated into: refused, the pool as it was.
    const pools = async () => ((await (await call("GET", "/sandbox-pools")).json()) as { pools: unknown[] }).pools;
    const made = await call("POST", "/sandbox-pools", JSON.stringify({ warm_containers: 0, max_containers: 2 }));
    const poolId = ((await made.json()) as { pool_id: string }).pool_id;
    const poolsBefore = await pools();
    const bad = JSON.stringify({ warm_containers: 3, max_containers: 1 });
    for (const r of [await call("POST", "/sandbox-pools", bad), await call("PUT", `/sandbox-pools/${poolId}`, bad)])
      expect([r.status, await code(r)]).toEqual([400, "out_of_range"]);
    expect(await pools()).toEqual(poolsBefore);
    expect((await call("DELETE", `/sandbox-pools/${poolId}`)).status).toBe(200);

    expect(await sandboxes()).toEqual(before.sandboxes);
    expect((await processes()).processes.length).toBe(before.processes);
  });

  it("refuses an update naming more ports than a sandbox may expose, and keeps its ports", async () => {
    const patch = (body: unknown) =>
      fetch(`${base}/sandboxes/${sb}`, {
        method: "PATCH",
        headers: { ...auth(), "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    expect((await patch({ exposed_ports: [8080] })).status).toBe(200);
    const many = Array.from({ length: 65 }, (_, i) => 30000 + i);
    const r = await patch({ exposed_ports: many });
    const body = (await r.json()) as { error: { code: string; message: string } };
    expect([r.status, body.error.code]).toEqual([400, "out_of_range"]);
    expect(body.error.message).toMatch(/64/);
    expect((await admin.listPorts(sb)).map((p) => p.port)).toEqual([8080]);
    expect((await patch({ exposed_ports: [] })).status).toBe(200);
  });

  it("accepts a refused tunnel upgrade and closes it with the reason", async () => {
    const { WebSocket } = await import("ws");
    const ws = new WebSocket(`${base.replace("http", "ws")}/api/v1/tunnels/tcp?port=8080`, {
      headers: { authorization: "Bearer not-a-token", "x-tensorlake-sandbox-id": sb },
    });
    const closed = await new Promise<{ opened: boolean; code: number; reason: string }>((resolve) => {
      let opened = false;
      ws.on("open", () => (opened = true));
      ws.on("close", (code, reason) => resolve({ opened, code, reason: reason.toString() }));
    });
    expect(closed).toMatchObject({ opened: true, code: 4000 });
    expect(closed.reason).toContain("unauthenticated");
  });
});

function auth(): Record<string, string> {
  return { authorization: `Bearer ${target.apiKey}` };
}
