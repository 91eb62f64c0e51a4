// The HTTP layer on fake services: request validation, error mapping, auth per transport
// (unix → X-Sbx-Project, TCP → bearer token), admin-only routes, and the NDJSON exec stream.
import { describe, expect, it, vi } from "vitest";
import { ERROR_CODES, SbxError, isErrorCode, type ErrorCode } from "@sbx-sh/protocol";
import type { ProcessService } from "../services/process-service.js";
import type { ProjectService } from "../services/project-service.js";
import type { SandboxService } from "../services/sandbox-service.js";
import type { Services } from "../services/services.js";
import type { ProcessRecord, SandboxRecord } from "../domain/records.js";
import { createApp, type Transport } from "./app.js";
import { MAX_JSON_BYTES } from "./body-limits.js";

const TOKENS: Record<string, string> = { sbxt_good: "team-a" };
const PROJECTS = ["default", "team-a"];
const T0 = "2024-01-01T00:00:00.000Z";

function sandboxRecord(id: string, project: string): SandboxRecord {
  return {
    id,
    project,
    name: null,
    image: "debian-minimal",
    imageId: "sha256:abc",
    status: "running",
    cpus: 1,
    memoryMb: 1024,
    pidsLimit: 1024,
    diskMb: 4096,
    timeoutSecs: 600,
    allowInternetAccess: true,
    env: {},
    config: { env: [], workingDir: "/", user: "0:0" },
    netSlot: 1,
    ipAddress: "10.0.0.2",
    createdAt: T0,
    startedAt: T0,
    terminatedAt: null,
    terminationReason: null,
  };
}

/** Just the members the routes under test call, each a spy over a tiny in-memory behaviour. */
function fakeServices() {
  const sandboxes = new Map([
    ["sb-1", sandboxRecord("sb-1", "default")],
    ["sb-a", sandboxRecord("sb-a", "team-a")],
  ]);
  const getSandbox = (project: string, id: string): SandboxRecord => {
    if (id.startsWith("err-") && isErrorCode(id.slice(4)))
      throw new SbxError(id.slice(4) as ErrorCode, `scripted ${id.slice(4)}`);
    if (id === "boom") throw new Error("disk on fire");
    const s = sandboxes.get(id);
    if (!s || s.project !== project)
      throw new SbxError("sandbox_not_found", `sandbox "${id}" does not exist in project ${project}`);
    return s;
  };
  const projects = {
    identify: vi.fn<ProjectService["identify"]>(async (token) =>
      TOKENS[token] ? { project: TOKENS[token], tokenId: `tok-${token}` } : undefined,
    ),
    require: vi.fn<ProjectService["require"]>(async (name) => {
      if (!PROJECTS.includes(name)) throw new SbxError("project_not_found", `project "${name}" does not exist`);
      return { name, createdAt: T0 };
    }),
    list: vi.fn<ProjectService["list"]>(async () => PROJECTS.map((name) => ({ name, createdAt: T0 }))),
    create: vi.fn<ProjectService["create"]>(async (name) => {
      if (PROJECTS.includes(name)) throw new SbxError("already_exists", `project ${name} already exists`);
      return { name, createdAt: T0 };
    }),
    createToken: vi.fn<ProjectService["createToken"]>(async (project) => ({
      id: "tok-1",
      project,
      token: "sbxt_new",
      createdAt: T0,
    })),
  };
  const sandboxService = {
    create: vi.fn<SandboxService["create"]>(async (project) => sandboxRecord("sb-new", project)),
    list: vi.fn<SandboxService["list"]>(async (project) =>
      [...sandboxes.values()].filter((s) => s.project === project),
    ),
    get: vi.fn<SandboxService["get"]>(async (project, id) => getSandbox(project, id)),
  };
  const proc: ProcessRecord = {
    id: "pr-1",
    sandboxId: "sb-1",
    command: "echo",
    args: ["hi"],
    status: "running",
    exitCode: null,
    signal: null,
    timedOut: false,
    stdin: false,
    hostPid: 999,
    deadline: null,
    startedAt: T0,
    endedAt: null,
  };
  const output = vi.fn<ProcessService["output"]>(async function* () {
    yield { type: "stdout", data: Buffer.from("hi\n").toString("base64") };
    yield { type: "stderr", data: Buffer.from("warn\n").toString("base64") };
    yield { type: "exit", exitCode: 0, signal: null, timedOut: false };
  });
  const processes = {
    start: vi.fn<ProcessService["start"]>(async (project, id) => ({ ...proc, sandboxId: getSandbox(project, id).id })),
    output,
    exec: vi.fn<ProcessService["exec"]>(async (project, id) => ({
      process: { ...proc, sandboxId: getSandbox(project, id).id },
      events: output(project, id, proc.id, true),
    })),
  };
  const log = { info: vi.fn(), warn: vi.fn(), error: vi.fn() };
  const services = {
    version: "0.0.0-test",
    log,
    projects,
    sandboxes: sandboxService,
    processes,
    info: () => ({ runtime: "fake", cgroupVersion: 2 as const, dataDir: "/tmp" }),
  };
  return { services, projects, sandboxes: sandboxService, processes, log, proc };
}

/** A JSON answer; error answers carry `error`, others whatever the route returns. */
type Body = { error?: { code: string; message: string; details?: unknown } } & Record<string, unknown>;

function setup(transport: Transport = "unix") {
  const fake = fakeServices();
  const app = createApp(fake.services as unknown as Services, transport);
  const call = async (
    method: string,
    path: string,
    opts: { json?: unknown; headers?: Record<string, string> } = {},
  ) => {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.json !== undefined) headers["content-type"] = "application/json";
    const res = await app.request(path, {
      method,
      headers,
      body: opts.json === undefined ? undefined : JSON.stringify(opts.json),
    });
    const body = (
      res.headers.get("content-type")?.startsWith("application/json") ? await res.json() : { text: await res.text() }
    ) as Body;
    return { res, status: res.status, body };
  };
  return { ...fake, app, call };
}

/** The error answer's shape, whatever the code. */
function expectError(r: { status: number; body: Body }, status: number, code: string): void {
  expect({ status: r.status, code: r.body.error?.code }).toEqual({ status, code });
  expect(Object.keys(r.body)).toEqual(["error"]);
  expect(r.body.error?.message).toMatch(/\S/);
}

describe("request validation", () => {
  it.each([
    [{ cpus: 1000 }, "out_of_range", /cpus/],
    [{ memoryMb: 8 }, "out_of_range", /memoryMb/],
    [{ timeoutSecs: -1 }, "out_of_range", /timeoutSecs/],
    [{ bogus: true }, "invalid_argument", /bogus/],
    [{ cpus: "two" }, "invalid_argument", /cpus/],
    [{ memoryMb: 512.5 }, "invalid_argument", /memoryMb/],
    [{ env: { "1BAD": "x" } }, "invalid_argument", /env/],
  ])("POST /v1/sandboxes %j → 400 %s", async (json, code, mentions) => {
    const t = setup();
    const r = await t.call("POST", "/v1/sandboxes", { json });
    expectError(r, 400, code);
    expect(r.body.error?.message).toMatch(mentions);
    expect(t.sandboxes.create).not.toHaveBeenCalled();
  });

  it("validates exec bodies and query enums too", async () => {
    const t = setup();
    expectError(await t.call("POST", "/v1/sandboxes/sb-1/exec", { json: {} }), 400, "invalid_argument");
    expectError(
      await t.call("POST", "/v1/sandboxes/sb-1/exec", { json: { command: "ls", timeoutSecs: 0 } }),
      400,
      "out_of_range",
    );
    expectError(await t.call("GET", "/v1/sandboxes?all=yes"), 400, "invalid_argument");
    expect(t.processes.start).not.toHaveBeenCalled();
    expect(t.sandboxes.list).not.toHaveBeenCalled();
  });

  it("refuses NUL bytes and oversized env values for exec, and JSON bodies over the cap (413), before any service", async () => {
    const t = setup();
    expectError(
      await t.call("POST", "/v1/sandboxes/sb-1/exec", { json: { command: "a\u0000b" } }),
      400,
      "invalid_argument",
    );
    expectError(
      await t.call("POST", "/v1/sandboxes/sb-1/processes", { json: { command: "ls", args: ["\u0000"] } }),
      400,
      "invalid_argument",
    );
    expectError(await t.call("POST", "/v1/sandboxes", { json: { env: { A: "x\u0000" } } }), 400, "invalid_argument");
    expectError(
      await t.call("POST", "/v1/sandboxes", { json: { env: { A: "x".repeat(65537) } } }),
      400,
      "invalid_argument",
    );
    expectError(
      await t.call("POST", "/v1/sandboxes", { json: { name: "x".repeat(MAX_JSON_BYTES) } }),
      413,
      "payload_too_large",
    );
    expect(t.processes.start).not.toHaveBeenCalled();
    expect(t.sandboxes.create).not.toHaveBeenCalled();
  });

  it("passes a valid body through and answers the API shape", async () => {
    const t = setup();
    const r = await t.call("POST", "/v1/sandboxes", { json: { cpus: 2, env: { A_1: "x" } } });
    expect(r.status).toBe(201);
    expect(t.sandboxes.create).toHaveBeenCalledWith("default", { cpus: 2, env: { A_1: "x" } });
    expect(r.body).toMatchObject({ id: "sb-new", project: "default", status: "running" });
    expect(r.body).not.toHaveProperty("config");
    expect(r.body).not.toHaveProperty("netSlot");
  });
});

describe("error mapping", () => {
  it("maps SbxErrors from services to their status", async () => {
    const t = setup();
    const missing = await t.call("GET", "/v1/sandboxes/nope");
    expectError(missing, 404, "sandbox_not_found");
    expect(missing.body.error?.message).toBe('sandbox "nope" does not exist in project default');
    expectError(await t.call("POST", "/v1/projects", { json: { name: "team-a" } }), 409, "already_exists");
  });

  it.each(Object.keys(ERROR_CODES) as ErrorCode[])("%s → its HTTP status", async (code) => {
    const r = await setup().call("GET", `/v1/sandboxes/err-${code}`);
    expectError(r, ERROR_CODES[code], code);
    expect(r.body.error?.message).toBe(`scripted ${code}`);
  });

  it("turns other exceptions into 500 internal and logs them", async () => {
    const t = setup();
    expectError(await t.call("GET", "/v1/sandboxes/boom"), 500, "internal");
    expect(t.log.error).toHaveBeenCalledTimes(1);
  });

  it("answers unknown routes and methods with 404 not_found JSON", async () => {
    const t = setup();
    for (const [method, path] of [
      ["GET", "/v1/nope"],
      ["GET", "/nope"],
      ["PATCH", "/v1/sandboxes"],
    ] as const) {
      const r = await t.call(method, path);
      expectError(r, 404, "not_found");
      expect(r.body.error?.message).toContain(path);
    }
  });
});

describe("TCP transport: bearer tokens", () => {
  it.each([
    ["no Authorization header", {}],
    ["a wrong token", { authorization: "Bearer sbxt_wrong" }],
    ["a non-bearer scheme", { authorization: "Basic c2J4dF9nb29k" }],
    ["an empty bearer", { authorization: "Bearer " }],
  ])("rejects %s with 401 before any service runs", async (_what, headers: Record<string, string>) => {
    const t = setup("tcp");
    expectError(await t.call("GET", "/v1/sandboxes", { headers }), 401, "unauthenticated");
    expectError(await t.call("POST", "/v1/sandboxes", { headers, json: { cpus: 1000 } }), 401, "unauthenticated");
    expectError(await t.call("GET", "/v1/info", { headers }), 401, "unauthenticated");
    expect(t.sandboxes.list).not.toHaveBeenCalled();
    expect(t.sandboxes.create).not.toHaveBeenCalled();
    expect(t.projects.require).not.toHaveBeenCalled();
  });

  it("uses the token's project and ignores X-Sbx-Project", async () => {
    const t = setup("tcp");
    const r = await t.call("GET", "/v1/sandboxes?all=1", {
      headers: { authorization: "Bearer sbxt_good", "x-sbx-project": "default" },
    });
    expect(r.status).toBe(200);
    expect(t.projects.identify).toHaveBeenCalledWith("sbxt_good");
    expect(t.sandboxes.list).toHaveBeenCalledWith("team-a", true);
    expect((r.body.sandboxes as SandboxRecord[]).map((s) => s.id)).toEqual(["sb-a"]);
    expectError(
      await t.call("GET", "/v1/sandboxes/sb-1", { headers: { authorization: "Bearer sbxt_good" } }),
      404,
      "sandbox_not_found",
    );
    expect(t.sandboxes.get).toHaveBeenLastCalledWith("team-a", "sb-1");
  });

  it("keeps project and token management to the unix socket (403)", async () => {
    const t = setup("tcp");
    const auth = { authorization: "Bearer sbxt_good" };
    expectError(
      await t.call("POST", "/v1/projects", { headers: auth, json: { name: "evil" } }),
      403,
      "permission_denied",
    );
    expectError(await t.call("POST", "/v1/projects/team-a/tokens", { headers: auth }), 403, "permission_denied");
    expect(t.projects.create).not.toHaveBeenCalled();
    expect(t.projects.createToken).not.toHaveBeenCalled();
    const list = await t.call("GET", "/v1/projects", { headers: auth });
    expect(list.body).toEqual({ projects: [{ name: "team-a", createdAt: T0 }] });
  });
});

describe("unix transport: X-Sbx-Project", () => {
  it("defaults to the default project and takes the header otherwise", async () => {
    const t = setup("unix");
    expect((await t.call("GET", "/v1/sandboxes")).status).toBe(200);
    expect(t.sandboxes.list).toHaveBeenLastCalledWith("default", false);
    expect((await t.call("GET", "/v1/sandboxes", { headers: { "x-sbx-project": "team-a" } })).status).toBe(200);
    expect(t.sandboxes.list).toHaveBeenLastCalledWith("team-a", false);
    expect(t.projects.identify).not.toHaveBeenCalled();
  });

  it("rejects an invalid or unknown project name", async () => {
    const t = setup("unix");
    for (const bad of ["Bad Name", "../etc", "-x", "a".repeat(64)]) {
      expectError(await t.call("GET", "/v1/sandboxes", { headers: { "x-sbx-project": bad } }), 400, "invalid_name");
    }
    expectError(
      await t.call("GET", "/v1/sandboxes", { headers: { "x-sbx-project": "ghost" } }),
      404,
      "project_not_found",
    );
    expect(t.sandboxes.list).not.toHaveBeenCalled();
  });

  it("allows project and token management", async () => {
    const t = setup("unix");
    const created = await t.call("POST", "/v1/projects", { json: { name: "team-c" } });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ name: "team-c", createdAt: T0 });
    const token = await t.call("POST", "/v1/projects/team-a/tokens");
    expect(token.status).toBe(201);
    expect(token.body).toEqual({ id: "tok-1", project: "team-a", token: "sbxt_new", createdAt: T0 });
  });
});

describe("POST /v1/sandboxes/{id}/exec", () => {
  it("streams started, then output, then exit as NDJSON", async () => {
    const t = setup("unix");
    const res = await t.app.request("/v1/sandboxes/sb-1/exec", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ command: "echo", args: ["hi"] }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/x-ndjson/);
    const text = await res.text();
    expect(text.endsWith("\n")).toBe(true);
    const events = text
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string; [k: string]: unknown });
    expect(events.map((e) => e.type)).toEqual(["started", "stdout", "stderr", "exit"]);
    const { hostPid: _h, deadline: _d, ...apiProcess } = t.proc;
    expect(events[0]).toEqual({ type: "started", process: apiProcess });
    expect(Buffer.from(String(events[1]!.data), "base64").toString()).toBe("hi\n");
    expect(Buffer.from(String(events[2]!.data), "base64").toString()).toBe("warn\n");
    expect(events[3]).toEqual({ type: "exit", exitCode: 0, signal: null, timedOut: false });
    expect(t.processes.exec).toHaveBeenCalledWith(
      "default",
      "sb-1",
      { command: "echo", args: ["hi"] },
      expect.any(AbortSignal),
    );
  });

  it("answers a plain JSON error when the process cannot start", async () => {
    const t = setup("unix");
    expectError(
      await t.call("POST", "/v1/sandboxes/nope/exec", { json: { command: "echo" } }),
      404,
      "sandbox_not_found",
    );
    expect(t.processes.exec).toHaveBeenCalledTimes(1);
    expect(t.processes.output).not.toHaveBeenCalled();
  });
});
