// The contract of the Store interface as a vitest suite: every implementation (SQLite today, maybe
// Postgres later) calls storeConformance() from its own test file with a factory for a fresh store.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SbxError } from "@sbx-sh/protocol";
import type { PortExposureRecord, ProcessRecord, SandboxRecord, Store } from "./store.js";

/** A distinct, sortable timestamp: second `n` of a fixed day. */
const at = (n: number): string => new Date(Date.UTC(2024, 0, 1, 0, 0, n)).toISOString();

function sandbox(id: string, over: Partial<SandboxRecord> = {}): SandboxRecord {
  return {
    id,
    project: "default",
    name: null,
    image: "debian-minimal",
    imageId: "sha256:abc",
    status: "running",
    cpus: 1.5,
    memoryMb: 512,
    pidsLimit: 256,
    diskMb: 2048,
    timeoutSecs: 600,
    allowInternetAccess: true,
    env: { FOO: "bar", EMPTY: "" },
    config: { env: ["PATH=/usr/bin:/bin", "LANG=C.UTF-8"], workingDir: "/work", user: "1000:1000" },
    netSlot: null,
    ipAddress: null,
    createdAt: at(0),
    startedAt: null,
    terminatedAt: null,
    terminationReason: null,
    ...over,
  };
}

function proc(id: string, sandboxId: string, over: Partial<ProcessRecord> = {}): ProcessRecord {
  return {
    id,
    sandboxId,
    command: "sh",
    args: ["-c", "echo hi"],
    status: "running",
    exitCode: null,
    signal: null,
    timedOut: false,
    stdin: false,
    hostPid: 4242,
    deadline: null,
    startedAt: at(0),
    endedAt: null,
    ...over,
  };
}

/** Asserts that fn throws an SbxError with the given code. */
function expectSbxError(fn: () => unknown, code: string): void {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown, `expected an SbxError ${code}`).toBeInstanceOf(SbxError);
  expect((thrown as SbxError).code).toBe(code);
}

const ids = (records: { id: string }[]): string[] => records.map((r) => r.id);

export function storeConformance(name: string, make: () => Store | Promise<Store>): void {
  describe(`Store conformance: ${name}`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await make();
      store.insertProject({ name: "team-b", createdAt: at(1) });
    });
    afterEach(() => store.close());

    describe("projects", () => {
      it("has the default project from the start", () => {
        const p = store.getProject("default");
        expect(p?.name).toBe("default");
        expect(Number.isNaN(Date.parse(p?.createdAt ?? ""))).toBe(false);
        expect(store.listProjects().map((x) => x.name)).toContain("default");
      });

      it("inserts, gets and lists projects; unknown names are undefined", () => {
        store.insertProject({ name: "team-c", createdAt: at(2) });
        expect(store.getProject("team-c")).toEqual({ name: "team-c", createdAt: at(2) });
        expect(store.getProject("team-b")).toEqual({ name: "team-b", createdAt: at(1) });
        expect(store.getProject("nope")).toBeUndefined();
        expect(
          store
            .listProjects()
            .map((x) => x.name)
            .sort(),
        ).toEqual(["default", "team-b", "team-c"]);
      });

      it("rejects a duplicate project with already_exists and keeps the original", () => {
        expectSbxError(() => store.insertProject({ name: "team-b", createdAt: at(9) }), "already_exists");
        expectSbxError(() => store.insertProject({ name: "default", createdAt: at(9) }), "already_exists");
        expect(store.getProject("team-b")).toEqual({ name: "team-b", createdAt: at(1) });
        expect(store.listProjects().filter((p) => p.name === "team-b")).toHaveLength(1);
      });
    });

    describe("tokens", () => {
      it("finds a token by its hash only", () => {
        const a = { id: "tok-a", project: "default", hash: "a".repeat(64), createdAt: at(3) };
        const b = { id: "tok-b", project: "team-b", hash: "b".repeat(64), createdAt: at(4) };
        store.insertToken(a);
        store.insertToken(b);
        expect(store.findTokenByHash(a.hash)).toEqual(a);
        expect(store.findTokenByHash(b.hash)).toEqual(b);
        expect(store.findTokenByHash("c".repeat(64))).toBeUndefined();
        expect(store.findTokenByHash("tok-a")).toBeUndefined();
      });

      it("refuses a second token with the same hash", () => {
        store.insertToken({ id: "tok-a", project: "default", hash: "a".repeat(64), createdAt: at(3) });
        expect(() =>
          store.insertToken({ id: "tok-x", project: "team-b", hash: "a".repeat(64), createdAt: at(5) }),
        ).toThrow();
        expect(store.findTokenByHash("a".repeat(64))?.id).toBe("tok-a");
      });
    });

    describe("sandboxes", () => {
      it("round-trips the whole record, env and config included", () => {
        const s = sandbox("sb-1", {
          name: "web",
          netSlot: 7,
          ipAddress: "10.0.0.2",
          startedAt: at(1),
          env: { A: "1", B: "x=y; z" },
        });
        store.insertSandbox(s);
        expect(store.getSandbox("sb-1")).toEqual(s);
        expect(store.getSandbox("sb-2")).toBeUndefined();
      });

      it("keeps its own copy: mutating inserted or returned records changes nothing stored", () => {
        const s = sandbox("sb-1");
        store.insertSandbox(s);
        s.env.FOO = "changed";
        const got = store.getSandbox("sb-1")!;
        got.config.env.push("X=1");
        got.status = "terminated";
        expect(store.getSandbox("sb-1")).toEqual(sandbox("sb-1"));
      });

      it("merges an update patch into the stored record", () => {
        store.insertSandbox(sandbox("sb-1", { status: "pending" }));
        store.updateSandbox("sb-1", { status: "running", ipAddress: "10.0.0.9", startedAt: at(5) });
        expect(store.getSandbox("sb-1")).toEqual(
          sandbox("sb-1", { status: "running", ipAddress: "10.0.0.9", startedAt: at(5) }),
        );
        store.updateSandbox("sb-1", { env: { ONLY: "this" }, config: { env: [], workingDir: "/", user: "0:0" } });
        expect(store.getSandbox("sb-1")).toMatchObject({
          status: "running",
          ipAddress: "10.0.0.9",
          env: { ONLY: "this" },
          config: { env: [], workingDir: "/", user: "0:0" },
        });
      });

      it("ignores an update of an unknown sandbox", () => {
        expect(() => store.updateSandbox("sb-nope", { status: "terminated" })).not.toThrow();
        expect(store.getSandbox("sb-nope")).toBeUndefined();
        expect(store.listSandboxes({ includeTerminated: true })).toEqual([]);
      });

      it("lists newest first, filtered by project, without terminated unless asked", () => {
        store.insertSandbox(sandbox("sb-mid", { createdAt: at(20) }));
        store.insertSandbox(sandbox("sb-old", { createdAt: at(10), status: "terminated", terminatedAt: at(11) }));
        store.insertSandbox(sandbox("sb-new", { createdAt: at(30), status: "pending" }));
        store.insertSandbox(sandbox("sb-other", { project: "team-b", createdAt: at(25) }));
        expect(ids(store.listSandboxes({ project: "default" }))).toEqual(["sb-new", "sb-mid"]);
        expect(ids(store.listSandboxes({ project: "default", includeTerminated: false }))).toEqual([
          "sb-new",
          "sb-mid",
        ]);
        expect(ids(store.listSandboxes({ project: "default", includeTerminated: true }))).toEqual([
          "sb-new",
          "sb-mid",
          "sb-old",
        ]);
        expect(ids(store.listSandboxes({ project: "team-b", includeTerminated: true }))).toEqual(["sb-other"]);
        expect(ids(store.listSandboxes({}))).toEqual(["sb-new", "sb-other", "sb-mid"]);
        expect(ids(store.listSandboxes({ includeTerminated: true }))).toEqual([
          "sb-new",
          "sb-other",
          "sb-mid",
          "sb-old",
        ]);
        expect(store.listSandboxes({ project: "nope", includeTerminated: true })).toEqual([]);
        expect(store.listSandboxes({ project: "default" })[0]).toEqual(
          sandbox("sb-new", { createdAt: at(30), status: "pending" }),
        );
      });

      it("lists by the current status after updates", () => {
        store.insertSandbox(sandbox("sb-1"));
        store.updateSandbox("sb-1", { status: "terminated", terminatedAt: at(9) });
        expect(store.listSandboxes({ project: "default" })).toEqual([]);
        expect(store.listSandboxes({ project: "default", includeTerminated: true })[0]?.terminatedAt).toBe(at(9));
      });

      it("finds by name within the project, preferring the live sandbox, else the newest", () => {
        store.insertSandbox(sandbox("sb-dead-new", { name: "web", status: "terminated", createdAt: at(50) }));
        store.insertSandbox(sandbox("sb-dead-old", { name: "web", status: "terminated", createdAt: at(40) }));
        expect(store.findSandboxByName("default", "web")?.id).toBe("sb-dead-new");
        store.insertSandbox(sandbox("sb-live", { name: "web", status: "running", createdAt: at(30) }));
        expect(store.findSandboxByName("default", "web")).toEqual(
          sandbox("sb-live", { name: "web", status: "running", createdAt: at(30) }),
        );
        expect(store.findSandboxByName("team-b", "web")).toBeUndefined();
        expect(store.findSandboxByName("default", "api")).toBeUndefined();
        expect(store.findSandboxByName("default", "sb-live")).toBeUndefined();
      });

      it("finds a sandbox by the name it was renamed to, not the old one", () => {
        store.insertSandbox(sandbox("sb-1", { name: "old" }));
        store.updateSandbox("sb-1", { name: "new" });
        expect(store.findSandboxByName("default", "new")?.id).toBe("sb-1");
        expect(store.findSandboxByName("default", "old")).toBeUndefined();
      });

      it("allows one live sandbox per name and project", () => {
        store.insertSandbox(sandbox("sb-1", { name: "web", status: "pending" }));
        expectSbxError(() => store.insertSandbox(sandbox("sb-2", { name: "web", createdAt: at(1) })), "already_exists");
        expect(store.getSandbox("sb-2")).toBeUndefined();
        store.insertSandbox(sandbox("sb-3", { name: "web", project: "team-b" }));
        store.insertSandbox(sandbox("sb-4", { name: null }));
        store.insertSandbox(sandbox("sb-5", { name: null }));
        expect(ids(store.listSandboxes({ includeTerminated: true })).sort()).toEqual(["sb-1", "sb-3", "sb-4", "sb-5"]);
      });

      it("frees the name when the live sandbox is terminated", () => {
        store.insertSandbox(sandbox("sb-1", { name: "web" }));
        store.updateSandbox("sb-1", { status: "terminated" });
        store.insertSandbox(sandbox("sb-2", { name: "web", createdAt: at(1) }));
        expect(store.findSandboxByName("default", "web")?.id).toBe("sb-2");
        expect(store.getSandbox("sb-1")?.status).toBe("terminated");
      });

      it("refuses an update that would give a second live sandbox a taken name", () => {
        store.insertSandbox(sandbox("sb-1", { name: "web" }));
        store.insertSandbox(sandbox("sb-2", { name: "api" }));
        expect(() => store.updateSandbox("sb-2", { name: "web" })).toThrow();
        expect(store.getSandbox("sb-2")?.name).toBe("api");
      });

      it("counts the net slots of live sandboxes only", () => {
        expect([...store.usedNetSlots()]).toEqual([]);
        store.insertSandbox(sandbox("sb-1", { netSlot: 1, status: "pending" }));
        store.insertSandbox(sandbox("sb-2", { netSlot: 2, status: "running" }));
        store.insertSandbox(sandbox("sb-3", { netSlot: 3, status: "terminated" }));
        store.insertSandbox(sandbox("sb-4", { netSlot: null }));
        store.insertSandbox(sandbox("sb-5", { netSlot: 5, project: "team-b" }));
        expect([...store.usedNetSlots()].sort()).toEqual([1, 2, 5]);
        store.updateSandbox("sb-2", { status: "terminated" });
        store.updateSandbox("sb-5", { netSlot: null });
        expect([...store.usedNetSlots()].sort()).toEqual([1]);
      });

      it("never gives a live net slot to a second live sandbox", () => {
        store.insertSandbox(sandbox("sb-1", { netSlot: 4 }));
        expectSbxError(
          () => store.insertSandbox(sandbox("sb-2", { netSlot: 4, project: "team-b" })),
          "failed_precondition",
        );
        expect(store.getSandbox("sb-2")).toBeUndefined();
        store.updateSandbox("sb-1", { status: "terminated" });
        store.insertSandbox(sandbox("sb-3", { netSlot: 4 }));
        expect([...store.usedNetSlots()]).toEqual([4]);
      });
    });

    describe("processes", () => {
      beforeEach(() => {
        store.insertSandbox(sandbox("sb-1"));
        store.insertSandbox(sandbox("sb-2", { project: "team-b" }));
      });

      it("inserts and gets a process, scoped by its sandbox", () => {
        const p = proc("pr-1", "sb-1", { args: ["a b", "", "ü"], stdin: true, deadline: at(60) });
        store.insertProcess(p);
        expect(store.getProcess("sb-1", "pr-1")).toEqual(p);
        expect(store.getProcess("sb-2", "pr-1")).toBeUndefined();
        expect(store.getProcess("sb-1", "pr-2")).toBeUndefined();
      });

      it("merges an update patch and ignores unknown ids", () => {
        store.insertProcess(proc("pr-1", "sb-1"));
        store.updateProcess("pr-1", { status: "exited", exitCode: 3, endedAt: at(9) });
        store.updateProcess("pr-1", { signal: "SIGKILL" });
        expect(store.getProcess("sb-1", "pr-1")).toEqual(
          proc("pr-1", "sb-1", { status: "exited", exitCode: 3, endedAt: at(9), signal: "SIGKILL" }),
        );
        expect(() => store.updateProcess("pr-nope", { status: "exited" })).not.toThrow();
        expect(store.getProcess("sb-1", "pr-nope")).toBeUndefined();
      });

      it("lists a sandbox's processes in start order", () => {
        store.insertProcess(proc("pr-late", "sb-1", { startedAt: at(30) }));
        store.insertProcess(proc("pr-early", "sb-1", { startedAt: at(10) }));
        store.insertProcess(proc("pr-mid", "sb-1", { startedAt: at(20), status: "exited", exitCode: 0 }));
        store.insertProcess(proc("pr-other", "sb-2", { startedAt: at(15) }));
        expect(ids(store.listProcesses("sb-1"))).toEqual(["pr-early", "pr-mid", "pr-late"]);
        expect(store.listProcesses("sb-1")[1]).toEqual(
          proc("pr-mid", "sb-1", { startedAt: at(20), status: "exited", exitCode: 0 }),
        );
        expect(ids(store.listProcesses("sb-2"))).toEqual(["pr-other"]);
        expect(store.listProcesses("sb-nope")).toEqual([]);
      });

      it("lists running processes of all sandboxes, by current status", () => {
        store.insertProcess(proc("pr-1", "sb-1"));
        store.insertProcess(proc("pr-2", "sb-1", { status: "exited", exitCode: 0 }));
        store.insertProcess(proc("pr-3", "sb-2", { startedAt: at(5) }));
        expect(ids(store.listRunningProcesses()).sort()).toEqual(["pr-1", "pr-3"]);
        store.updateProcess("pr-1", { status: "exited", exitCode: 1 });
        expect(store.listRunningProcesses()).toEqual([proc("pr-3", "sb-2", { startedAt: at(5) })]);
      });
    });

    describe("port exposures", () => {
      const expo = (sandboxId: string, port: number, over: Partial<PortExposureRecord> = {}): PortExposureRecord => ({
        sandboxId,
        project: "default",
        port,
        public: false,
        token: `tok-${sandboxId}-${port}`,
        createdAt: at(port % 60),
        ...over,
      });
      beforeEach(() => {
        store.insertSandbox(sandbox("sb-1"));
        store.insertSandbox(sandbox("sb-2", { project: "team-b" }));
      });

      it("puts, gets and lists exposures by port; a second put of a port replaces it", () => {
        store.putPortExposure(expo("sb-1", 8080));
        store.putPortExposure(expo("sb-1", 443, { public: true }));
        store.putPortExposure(expo("sb-2", 8080, { project: "team-b" }));
        expect(store.getPortExposure("sb-1", 8080)).toEqual(expo("sb-1", 8080));
        expect(store.getPortExposure("sb-1", 9999)).toBeUndefined();
        expect(store.listPortExposures("sb-1").map((e) => e.port)).toEqual([443, 8080]);
        expect(store.listPortExposures().map((e) => `${e.sandboxId}:${e.port}`)).toEqual([
          "sb-1:443",
          "sb-1:8080",
          "sb-2:8080",
        ]);
        store.putPortExposure(expo("sb-1", 8080, { public: true }));
        expect(store.getPortExposure("sb-1", 8080)).toEqual(expo("sb-1", 8080, { public: true }));
        expect(store.listPortExposures("sb-1")).toHaveLength(2);
      });

      it("deletes one port or all of a sandbox's, saying whether anything went", () => {
        store.putPortExposure(expo("sb-1", 8080));
        store.putPortExposure(expo("sb-1", 443));
        store.putPortExposure(expo("sb-2", 8080, { project: "team-b" }));
        expect(store.deletePortExposure("sb-1", 8080)).toBe(true);
        expect(store.deletePortExposure("sb-1", 8080)).toBe(false);
        expect(store.listPortExposures("sb-1").map((e) => e.port)).toEqual([443]);
        expect(store.deletePortExposure("sb-1")).toBe(true);
        expect(store.listPortExposures("sb-1")).toEqual([]);
        expect(store.listPortExposures("sb-2")).toEqual([expo("sb-2", 8080, { project: "team-b" })]);
      });
    });
  });
}
