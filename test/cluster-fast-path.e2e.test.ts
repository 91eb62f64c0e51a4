// The control plane's fast path (packages/daemon/src/api/cluster-fast-path.ts) on a real fleet
// (test/cluster-harness.ts: PostgreSQL, one control plane, two nodes, real crun): each call is sent
// twice, once as the fast path takes it and once with a Host it leaves to the app ("LOCALHOST":
// the HTTP adapter takes it, the fast path only takes lowercase hosts), and the two answers must be
// the same: exec, a sandbox of another project, an unknown sandbox, a bad and a revoked token, a
// body over the cap, a dot segment, a WebSocket upgrade, a node killed (-9) and then lost. Which
// path served a call is in its request log line (`fast: true`), and the fast path's calls are
// counted in the metrics under their route template.
import { request, type IncomingHttpHeaders } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sandbox, type SandboxClient } from "@sbx-sh/sdk";
import { Fleet } from "./cluster-harness.js";
import type { TestDaemon } from "./harness.js";

const fleet = new Fleet({ nodes: ["n1", "n2"], leaseSecs: 3 });
let control: TestDaemon;
let client: SandboxClient;
/** Running sandboxes: one of project default on each node, one of project other on n1. */
const boxes: Record<string, string> = {};

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** The call's X-Request-Id (sent with it). */
  id: string;
}

interface Call {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Over the control plane's TCP listener (else its unix socket). */
  tcp?: boolean;
}

let seq = 0;
/** One call to the control plane; `app`: with a Host the fast path leaves to the app. */
function send(c: Call, app: boolean): Promise<Answer> {
  const id = `fp-${process.pid}-${++seq}`;
  const url = new URL(fleet.controlUrl());
  const where = c.tcp ? { host: url.hostname, port: Number(url.port) } : { socketPath: control.socket };
  const headers: Record<string, string> = {
    host: app ? "LOCALHOST" : "localhost",
    "x-request-id": id,
    ...(c.body !== undefined ? { "content-type": "application/json" } : {}),
    ...c.headers,
  };
  return new Promise((resolve, reject) => {
    // A connection of its own, dropped once answered: a refused body may not have been sent whole.
    const req = request({ ...where, agent: false, method: c.method, path: c.path, headers }, (res) => {
      let text = "";
      res.on("data", (b: Buffer) => (text += b.toString()));
      res.on("end", () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, id });
        req.destroy();
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(c.body);
  });
}

/** The control plane's request log line for the call with this id (its stdout is read as it comes: waited for). */
async function logLine(id: string): Promise<Record<string, unknown> | undefined> {
  const find = (): Record<string, unknown> | undefined => {
    for (const l of control.log.split("\n"))
      if (l.includes(`"${id}"`) && l.includes('"msg":"request"')) return JSON.parse(l) as Record<string, unknown>;
    return undefined;
  };
  for (let i = 0; i < 100 && !find(); i++) await new Promise((r) => setTimeout(r, 50));
  return find();
}

/** An error answer's JSON with its own request id checked and taken out (the two calls' ids differ). */
function errorOf(a: Answer): Record<string, unknown> {
  const body = JSON.parse(a.text) as { error: Record<string, unknown> };
  expect(body.error.requestId).toBe(a.id);
  expect(a.headers["x-request-id"]).toBe(a.id);
  const { requestId: _, ...rest } = body.error;
  return rest;
}

/**
 * The call through the fast path's door and through the app's: the same status and error; `fast`
 * says whether the fast path served the first (its log line), and the second never is.
 */
async function sameRefusal(c: Call, fast: boolean): Promise<{ status: number; error: Record<string, unknown> }> {
  const viaFast = await send(c, false);
  const viaApp = await send(c, true);
  expect(viaFast.status).toBe(viaApp.status);
  expect(errorOf(viaFast)).toEqual(errorOf(viaApp));
  expect((await logLine(viaFast.id))?.fast).toBe(fast ? true : undefined);
  expect((await logLine(viaApp.id))?.fast).toBeUndefined();
  expect((await logLine(viaFast.id))?.status).toBe(viaFast.status);
  return { status: viaFast.status, error: errorOf(viaFast) };
}

const exec = (id: string, extra: Partial<Call> = {}): Call => ({
  method: "POST",
  path: `/v1/sandboxes/${id}/exec`,
  body: JSON.stringify({ command: "echo", args: ["hi"] }),
  ...extra,
});

beforeAll(async () => {
  await fleet.start();
  control = fleet.control();
  client = fleet.client();
  await client.createProject("other");
  boxes.n1 = (await fleet.onlyOn("n1", () => Sandbox.create({}, client))).id;
  boxes.n2 = (await fleet.onlyOn("n2", () => Sandbox.create({}, client))).id;
  boxes.other = (await fleet.onlyOn("n1", () => Sandbox.create({}, fleet.client("other")))).id;
}, 600_000);

afterAll(async () => {
  await fleet.stop();
}, 300_000);

describe("the control plane's fast path", () => {
  it("serves exec as the app does: the node's answer, the request id, its log line and metrics", async () => {
    const viaFast = await send(exec(boxes.n1!), false);
    const viaApp = await send(exec(boxes.n1!), true);
    for (const a of [viaFast, viaApp]) {
      expect(a.status).toBe(200);
      expect(a.headers["x-request-id"]).toBe(a.id);
      expect(a.headers["x-sbx-node"]).toBe("n1");
      expect(a.headers["content-type"]).toBe(viaApp.headers["content-type"]);
      const lines = a.text
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      const out = lines.filter((l) => l.type === "stdout").map((l) => Buffer.from(String(l.data), "base64"));
      expect(Buffer.concat(out).toString()).toBe("hi\n");
      expect(lines.at(-1)).toMatchObject({ type: "exit", exitCode: 0 });
    }
    expect(await logLine(viaFast.id)).toMatchObject({
      fast: true,
      method: "POST",
      route: "/v1/sandboxes/:id/exec",
      status: 200,
      project: "default",
    });
    expect(await logLine(viaApp.id)).toMatchObject({ method: "POST", status: 200, project: "default" });
    expect((await logLine(viaApp.id))?.fast).toBeUndefined();
    // By name too, and with a new request id when the caller sends none.
    const named = await send(exec(boxes.n2!, { headers: { "x-request-id": "" } }), false);
    expect(named.status).toBe(200);
    expect(named.headers["x-request-id"]).toMatch(/^req_/);
    expect(await logLine(String(named.headers["x-request-id"]))).toMatchObject({ fast: true, status: 200 });
    const metrics = await send({ method: "GET", path: "/metrics" }, false);
    expect(metrics.text).toMatch(
      /sbx_http_requests_total\{method="POST",route="\/v1\/sandboxes\/:id\/exec",status="200"\} [1-9]/,
    );
  });

  it("serves the other listed calls: info, process start and reads, file reads", async () => {
    const id = boxes.n1!;
    const info = await send({ method: "GET", path: `/v1/sandboxes/${id}` }, false);
    expect(info.status).toBe(200);
    expect((JSON.parse(info.text) as { id: string }).id).toBe(id);
    expect(await logLine(info.id)).toMatchObject({ fast: true, route: "/v1/sandboxes/:id" });
    const file = await send({ method: "GET", path: `/v1/sandboxes/${id}/files?path=/etc/hostname` }, false);
    expect(file.status).toBe(200);
    expect(await logLine(file.id)).toMatchObject({ fast: true, route: "/v1/sandboxes/:id/files" });
    const started = await send(
      { method: "POST", path: `/v1/sandboxes/${id}/processes`, body: JSON.stringify({ command: "true" }) },
      false,
    );
    expect(started.status).toBe(201);
    expect(await logLine(started.id)).toMatchObject({ fast: true, route: "/v1/sandboxes/:id/processes" });
  });

  it("leaves a sandbox of another project, and an unknown one, to the app: 404 sandbox_not_found", async () => {
    const other = await sameRefusal(exec(boxes.other!), false);
    expect(other.status).toBe(404);
    expect(other.error.code).toBe("sandbox_not_found");
    const unknown = await sameRefusal(exec("sb_nosuchsandbox"), false);
    expect(unknown.status).toBe(404);
    expect(unknown.error.code).toBe("sandbox_not_found");
    // The project that owns it reaches it (through the fast path).
    const owner = await send(exec(boxes.other!, { headers: { "x-sbx-project": "other" } }), false);
    expect(owner.status).toBe(200);
    expect(await logLine(owner.id)).toMatchObject({ fast: true, project: "other" });
  });

  it("over TCP: a token's calls are fast, a bad token is 401, a revoked one at once", async () => {
    const { token, id: tokenId } = await client.createToken("default");
    const auth = { authorization: `Bearer ${token}` };
    const ok = await send(exec(boxes.n1!, { tcp: true, headers: auth }), false);
    expect(ok.status).toBe(200);
    expect(await logLine(ok.id)).toMatchObject({ fast: true, project: "default" });
    const bad = await sameRefusal(
      exec(boxes.n1!, { tcp: true, headers: { authorization: "Bearer sbxt_wrong" } }),
      false,
    );
    expect([bad.status, bad.error.code]).toEqual([401, "unauthenticated"]);
    await client.revokeToken("default", tokenId);
    const revoked = await sameRefusal(exec(boxes.n1!, { tcp: true, headers: auth }), false);
    expect([revoked.status, revoked.error.code]).toEqual([401, "unauthenticated"]);
  });

  it("over TCP: a call naming another project than its token's (default too) is the app's to refuse: 403", async () => {
    const { token } = await client.createToken("other");
    const auth = { authorization: `Bearer ${token}` };
    for (const named of ["default", "nosuch"]) {
      const r = await sameRefusal(
        exec(boxes.other!, { tcp: true, headers: { ...auth, "x-sbx-project": named } }),
        false,
      );
      expect([r.status, r.error.code]).toEqual([403, "permission_denied"]);
      expect(r.error.message).toContain(`this token belongs to project other, not "${named}"`);
    }
    const own = await send(exec(boxes.other!, { tcp: true, headers: { ...auth, "x-sbx-project": "other" } }), false);
    expect(own.status).toBe(200);
    expect(await logLine(own.id)).toMatchObject({ fast: true, project: "other" });
  });

  it("leaves a body over the cap, a dot segment and a WebSocket upgrade to the app", async () => {
    // Refused from the declared length, before the body is read: only the start of it is sent.
    const big = exec(boxes.n1!, { headers: { "content-length": String(2 * 1024 * 1024) } });
    const tooBig = await sameRefusal(big, false);
    expect([tooBig.status, tooBig.error.code]).toEqual([413, "payload_too_large"]);
    // Refused by the control plane itself: no node saw it.
    expect((await send(big, false)).headers["x-sbx-node"]).toBeUndefined();
    const dots = await sameRefusal(exec(`${boxes.n1!}/processes/..`), false);
    expect([dots.status, dots.error.code]).toEqual([400, "invalid_argument"]);
    const upgrade = await send(
      {
        method: "GET",
        path: `/v1/sandboxes/${boxes.n1!}`,
        headers: {
          connection: "Upgrade",
          upgrade: "websocket",
          "sec-websocket-version": "13",
          "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
      },
      false,
    );
    expect(await logLine(upgrade.id)).toBeDefined();
    expect((await logLine(upgrade.id))?.fast).toBeUndefined();
  });

  it("a node killed (-9): node_unavailable as the app answers it, at once and once it is lost", async () => {
    await fleet.node("n2").daemon.stop("SIGKILL");
    // Still routed to (its lease runs): the fast path's own answer of the failed call.
    const atOnce = await sameRefusal(exec(boxes.n2!), true);
    expect([atOnce.status, atOnce.error.code]).toEqual([503, "node_unavailable"]);
    await fleet.waitState("n2", "lost");
    const lost = await sameRefusal(exec(boxes.n2!), false);
    expect([lost.status, lost.error.code]).toEqual([503, "node_unavailable"]);
    expect(String(lost.error.message)).toMatch(/node n2 is lost/);
  });
});
