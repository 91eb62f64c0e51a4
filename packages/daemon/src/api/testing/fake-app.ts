// The HTTP app on fake services, for unit tests of the API layer: just the service members the
// routes under test call, each a spy over a tiny in-memory behaviour (two projects, two sandboxes,
// one token of team-a), and a `call` that answers status and parsed body.
import { expect, vi } from "vitest";
import { SbxError, isErrorCode, type ErrorCode } from "@sbx-sh/protocol";
import type { ProcessService } from "../../services/process-service.js";
import type { ProjectService } from "../../services/project-service.js";
import type { SandboxService } from "../../services/sandbox-service.js";
import type { Services } from "../../services/services.js";
import type { ProcessRecord, SandboxRecord } from "../../domain/records.js";
import { createApp, type Transport } from "../app.js";

export const TOKENS: Record<string, string> = { sbxt_good: "team-a" };
const PROJECTS = ["default", "team-a"];
export const T0 = "2024-01-01T00:00:00.000Z";

export function sandboxRecord(id: string, project: string): SandboxRecord {
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
export function fakeServices() {
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
export type Body = { error?: { code: string; message: string; details?: unknown } } & Record<string, unknown>;

export function setupApp(transport: Transport = "unix") {
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
export function expectError(r: { status: number; body: Body }, status: number, code: string): void {
  expect({ status: r.status, code: r.body.error?.code }).toEqual({ status, code });
  expect(Object.keys(r.body)).toEqual(["error"]);
  expect(r.body.error?.message).toMatch(/\S/);
}
