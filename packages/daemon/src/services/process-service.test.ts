// ProcessService on FakeRuntime and an in-memory store: output events, exit codes, stdin, signals,
// timeouts, a sandbox's end, log pruning, and a daemon restart (processes are attached to again,
// their stdin is gone). The sandbox service is reduced to the three things ProcessService asks of it.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { SbxError } from "@sbx-sh/protocol";
import { FAKE_BASE, FakeRuntime } from "../runtime/testing/fake-runtime.js";
import { openStores } from "../store/open-stores.js";
import type { Logger } from "../common/log.js";
import type { ProcessOutputEvent, SandboxRecord } from "../domain/records.js";
import type { Stores } from "../store/store.js";
import { ProcessService } from "./process-service.js";
import { SandboxEvents } from "./sandbox-events.js";
import type { SandboxService } from "./sandbox-service.js";

const SB = "sb-proctest";
const quiet: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

function sandboxRecord(): SandboxRecord {
  return {
    id: SB,
    project: "default",
    name: null,
    image: "debian-minimal",
    imageId: "sha256:abc",
    status: "running",
    cpus: 1,
    memoryMb: 512,
    pidsLimit: 256,
    diskMb: 1024,
    timeoutSecs: 0,
    allowInternetAccess: false,
    env: { GREETING: "hello" },
    config: { env: ["PATH=/usr/bin:/bin"], workingDir: "/", user: "root" },
    netSlot: null,
    ipAddress: null,
    createdAt: new Date().toISOString(),
    startedAt: new Date().toISOString(),
    terminatedAt: null,
    terminationReason: null,
  };
}

let stores: Stores;
let runtime: FakeRuntime;
let lifecycle: SandboxEvents;
const services: ProcessService[] = [];

/** What ProcessService asks of the sandbox service: lookups (the lifecycle events come from `lifecycle`). */
function sandboxes(): SandboxService {
  const get = async (_project: string, id: string): Promise<SandboxRecord> => {
    const s = await stores.meta.getSandbox(id);
    if (!s) throw new SbxError("sandbox_not_found", `no sandbox ${id}`);
    return s;
  };
  return {
    get,
    getRunning: get,
    secretsOf: async () => ({}),
  } as unknown as SandboxService;
}

function service(): ProcessService {
  const svc = new ProcessService(stores.meta, runtime, sandboxes(), lifecycle, quiet);
  services.push(svc);
  return svc;
}

async function events(svc: ProcessService, procId: string, follow = true): Promise<ProcessOutputEvent[]> {
  const out: ProcessOutputEvent[] = [];
  for await (const ev of svc.output("default", SB, procId, follow)) out.push(ev);
  return out;
}

const text = (evs: ProcessOutputEvent[], type: "stdout" | "stderr"): string =>
  evs
    .filter((e) => e.type === type)
    .map((e) => Buffer.from((e as { data: string }).data, "base64").toString())
    .join("");

beforeEach(async () => {
  stores = await openStores({ kind: "sqlite", path: ":memory:" });
  runtime = new FakeRuntime();
  lifecycle = new SandboxEvents();
  await runtime.create({
    id: SB,
    lowers: [FAKE_BASE],
    hostname: SB,
    env: [],
    workingDir: "/",
    cpus: 1,
    memoryMb: 512,
    pidsLimit: 256,
    diskMb: 1024,
    netSlot: null,
  });
  await stores.meta.insertSandbox(sandboxRecord());
});

afterEach(async () => {
  for (const svc of services.splice(0)) svc.close();
  await runtime.destroy(SB, null);
  await stores.close();
});

describe("ProcessService on the fake runtime", () => {
  it("runs a command with the sandbox's env and streams its output, then its exit", async () => {
    const svc = service();
    const p = await svc.start("default", SB, { command: "sh", args: ["-c", "echo $GREETING; echo oops >&2; exit 3"] });
    const evs = await events(svc, p.id);
    expect(text(evs, "stdout")).toBe("hello\n");
    expect(text(evs, "stderr")).toBe("oops\n");
    expect(evs.at(-1)).toEqual({ type: "exit", exitCode: 3, signal: null, timedOut: false });
    expect((await svc.get("default", SB, p.id)).status).toBe("exited");
  });

  it("exec reads the output of a process that already ended through the handle that started it", async () => {
    const svc = service();
    const attach = vi.spyOn(runtime, "attachProcess");
    const run = await svc.exec("default", SB, { command: "sh", args: ["-c", "echo done"] });
    // Ended and recorded before anyone reads: the watched handle is gone by then.
    while ((await svc.get("default", SB, run.process.id)).status !== "exited")
      await new Promise((r) => setTimeout(r, 5));
    const evs: ProcessOutputEvent[] = [];
    for await (const ev of run.events) evs.push(ev);
    expect(text(evs, "stdout")).toBe("done\n");
    expect(evs.at(-1)).toEqual({ type: "exit", exitCode: 0, signal: null, timedOut: false });
    expect(attach).not.toHaveBeenCalled();
  });

  it("feeds stdin, closes it, and refuses stdin where there is none", async () => {
    const svc = service();
    const p = await svc.start("default", SB, { command: "cat", stdin: true });
    await svc.writeStdin("default", SB, p.id, Buffer.from("typed "));
    await svc.writeStdin("default", SB, p.id, Buffer.from("in"));
    await svc.closeStdin("default", SB, p.id);
    const evs = await events(svc, p.id);
    expect(text(evs, "stdout")).toBe("typed in");
    await expect(svc.writeStdin("default", SB, p.id, Buffer.from("x"))).rejects.toThrow(
      /stdin of process .* is closed/,
    );
    const noStdin = await svc.start("default", SB, { command: "true" });
    await expect(svc.writeStdin("default", SB, noStdin.id, Buffer.from("x"))).rejects.toThrow(/started without stdin/);
  });

  it("delivers signals and records what it sent", async () => {
    const svc = service();
    const p = await svc.start("default", SB, { command: "sleep", args: ["30"] });
    expect((await svc.signal("default", SB, p.id, "TERM")).signal).toBe("SIGTERM");
    expect((await events(svc, p.id)).at(-1)).toEqual({
      type: "exit",
      exitCode: 143,
      signal: "SIGTERM",
      timedOut: false,
    });
    await expect(svc.signal("default", SB, p.id, "SIGBOGUS")).rejects.toMatchObject({ code: "invalid_argument" });
  });

  it("refuses a signal to a process that has ended, with a coded error", async () => {
    const svc = service();
    const p = await svc.start("default", SB, { command: "true" });
    await events(svc, p.id);
    await expect(svc.signal("default", SB, p.id, "SIGTERM")).rejects.toMatchObject({ code: "failed_precondition" });
    expect((await svc.get("default", SB, p.id)).signal).toBeNull();
  });

  it("kills a command at its timeout and says so", async () => {
    const svc = service();
    const p = await svc.start("default", SB, { command: "sleep", args: ["30"], timeoutSecs: 1 });
    expect((await events(svc, p.id)).at(-1)).toEqual({
      type: "exit",
      exitCode: 137,
      signal: "SIGKILL",
      timedOut: true,
    });
  });

  it("ends a sandbox's running processes with 137 when the sandbox ends", async () => {
    const svc = service();
    const p = await svc.start("default", SB, { command: "sleep", args: ["30"] });
    await runtime.destroy(SB, null);
    await lifecycle.emit("ended", { ...sandboxRecord(), status: "terminated" });
    expect(await svc.get("default", SB, p.id)).toMatchObject({ status: "exited", exitCode: 137, signal: "SIGKILL" });
    // The sandbox (and with it the output) is gone; the exit is still told.
    expect(await events(svc, p.id)).toEqual([{ type: "exit", exitCode: 137, signal: "SIGKILL", timedOut: false }]);
  });

  it("after a daemon restart attaches to running processes: exits, output and signals, but not stdin", async () => {
    const before = service();
    const late = await before.start("default", SB, { command: "sh", args: ["-c", "sleep 0.2; echo late; exit 4"] });
    const sleeper = await before.start("default", SB, { command: "sleep", args: ["30"], stdin: true });
    before.close();
    runtime.restart();
    const after = service();
    expect(await after.adoptRunning()).toBe(2);
    const evs = await events(after, late.id);
    expect(text(evs, "stdout")).toBe("late\n");
    expect(evs.at(-1)).toMatchObject({ type: "exit", exitCode: 4 });
    await expect(after.writeStdin("default", SB, sleeper.id, Buffer.from("x"))).rejects.toThrow(/is closed/);
    await after.signal("default", SB, sleeper.id, "SIGKILL");
    expect((await events(after, sleeper.id)).at(-1)).toMatchObject({ exitCode: 137, signal: "SIGKILL" });
  });

  it("drops the oldest exited processes' output once the output store is over half full", async () => {
    runtime.outputCapacity = 100;
    const svc = service();
    const old = await svc.start("default", SB, { command: "echo", args: ["x".repeat(60)] });
    await events(svc, old.id);
    const next = await svc.start("default", SB, { command: "echo", args: ["fits"] });
    expect(text(await events(svc, next.id), "stdout")).toBe("fits\n");
    const oldEvents = await events(svc, old.id);
    expect(oldEvents).toEqual([{ type: "exit", exitCode: 0, signal: null, timedOut: false }]);
  });
});
