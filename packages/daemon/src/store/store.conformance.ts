// The contract of the Store interface as a vitest suite: every implementation (SQLite today, maybe
// Postgres later) calls storeConformance() from its own test file with a factory for a fresh store.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SbxError } from "@sbx-sh/protocol";
import type { Store, Stores } from "./store.js";
import type { PortExposureRecord, ProcessRecord, SandboxRecord } from "../domain/records.js";

/** A distinct, sortable timestamp: second `n` of a fixed day. */
export const at = (n: number): string => new Date(Date.UTC(2024, 0, 1, 0, 0, n)).toISOString();

export function sandbox(id: string, over: Partial<SandboxRecord> = {}): SandboxRecord {
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

/** Asserts that the call fails with an SbxError with the given code. */
async function expectSbxError(call: Promise<unknown>, code: string): Promise<void> {
  let thrown: unknown;
  try {
    await call;
  } catch (err) {
    thrown = err;
  }
  expect(thrown, `expected an SbxError ${code}`).toBeInstanceOf(SbxError);
  expect((thrown as SbxError).code).toBe(code);
}

const ids = (records: { id: string }[]): string[] => records.map((r) => r.id);

/** `open` gives fresh, empty stores (the default project aside); the suite closes them. */
export function storeConformance(name: string, open: () => Promise<Stores>): void {
  describe(`Store conformance: ${name}`, () => {
    let stores: Stores;
    let store: Store;
    beforeEach(async () => {
      stores = await open();
      store = stores.meta;
      await store.insertProject({ name: "team-b", createdAt: at(1) });
    });
    afterEach(() => stores.close());

    describe("projects", () => {
      it("has the default project from the start", async () => {
        const p = await store.getProject("default");
        expect(p?.name).toBe("default");
        expect(Number.isNaN(Date.parse(p?.createdAt ?? ""))).toBe(false);
        expect((await store.listProjects()).map((x) => x.name)).toContain("default");
      });

      it("inserts, gets and lists projects; unknown names are undefined", async () => {
        await store.insertProject({ name: "team-c", createdAt: at(2) });
        expect(await store.getProject("team-c")).toEqual({ name: "team-c", createdAt: at(2) });
        expect(await store.getProject("team-b")).toEqual({ name: "team-b", createdAt: at(1) });
        expect(await store.getProject("nope")).toBeUndefined();
        expect((await store.listProjects()).map((x) => x.name).sort()).toEqual(["default", "team-b", "team-c"]);
      });

      it("rejects a duplicate project with already_exists and keeps the original", async () => {
        await expectSbxError(store.insertProject({ name: "team-b", createdAt: at(9) }), "already_exists");
        await expectSbxError(store.insertProject({ name: "default", createdAt: at(9) }), "already_exists");
        expect(await store.getProject("team-b")).toEqual({ name: "team-b", createdAt: at(1) });
        expect((await store.listProjects()).filter((p) => p.name === "team-b")).toHaveLength(1);
      });
    });

    describe("tokens", () => {
      it("finds a token by its hash only", async () => {
        const a = { id: "tok-a", project: "default", hash: "a".repeat(64), createdAt: at(3) };
        const b = { id: "tok-b", project: "team-b", hash: "b".repeat(64), createdAt: at(4) };
        await store.insertToken(a);
        await store.insertToken(b);
        expect(await store.findTokenByHash(a.hash)).toEqual(a);
        expect(await store.findTokenByHash(b.hash)).toEqual(b);
        expect(await store.findTokenByHash("c".repeat(64))).toBeUndefined();
        expect(await store.findTokenByHash("tok-a")).toBeUndefined();
      });

      it("refuses a second token with the same hash", async () => {
        await store.insertToken({ id: "tok-a", project: "default", hash: "a".repeat(64), createdAt: at(3) });
        await expect(
          store.insertToken({ id: "tok-x", project: "team-b", hash: "a".repeat(64), createdAt: at(5) }),
        ).rejects.toThrow();
        expect((await store.findTokenByHash("a".repeat(64)))?.id).toBe("tok-a");
      });

      it("lists a project's tokens and deletes one only within its project", async () => {
        const a = { id: "tok-a", project: "team-b", hash: "a".repeat(64), createdAt: at(3) };
        const b = { id: "tok-b", project: "team-b", hash: "b".repeat(64), createdAt: at(4) };
        await store.insertToken(a);
        await store.insertToken(b);
        expect(await store.listTokens("team-b")).toEqual([a, b]);
        expect(await store.listTokens("default")).toEqual([]);
        expect(await store.deleteToken("default", "tok-a")).toBe(false);
        expect(await store.deleteToken("team-b", "tok-a")).toBe(true);
        expect(await store.findTokenByHash(a.hash)).toBeUndefined();
        expect(await store.listTokens("team-b")).toEqual([b]);
      });

      it("deletes a project together with its tokens", async () => {
        await store.insertToken({ id: "tok-b", project: "team-b", hash: "b".repeat(64), createdAt: at(4) });
        expect(await store.deleteProject("team-b")).toBe(true);
        expect(await store.getProject("team-b")).toBeUndefined();
        expect(await store.findTokenByHash("b".repeat(64))).toBeUndefined();
        expect(await store.deleteProject("team-b")).toBe(false);
      });
    });

    describe("sandboxes", () => {
      it("round-trips the whole record, env and config included", async () => {
        const s = sandbox("sb-1", {
          name: "web",
          netSlot: 7,
          ipAddress: "10.0.0.2",
          startedAt: at(1),
          env: { A: "1", B: "x=y; z" },
        });
        await store.insertSandbox(s);
        expect(await store.getSandbox("sb-1")).toEqual(s);
        expect(await store.getSandbox("sb-2")).toBeUndefined();
      });

      it("keeps its own copy: mutating inserted or returned records changes nothing stored", async () => {
        const s = sandbox("sb-1");
        await store.insertSandbox(s);
        s.env.FOO = "changed";
        const got = (await store.getSandbox("sb-1"))!;
        got.config.env.push("X=1");
        got.status = "terminated";
        expect(await store.getSandbox("sb-1")).toEqual(sandbox("sb-1"));
      });

      it("deletes a sandbox record", async () => {
        await store.insertSandbox(sandbox("sb-1", { status: "terminated" }));
        await store.insertSandbox(sandbox("sb-2"));
        expect(await store.deleteSandbox("sb-1")).toBe(true);
        expect(await store.getSandbox("sb-1")).toBeUndefined();
        expect(await store.getSandbox("sb-2")).toBeDefined();
        expect(await store.deleteSandbox("sb-1")).toBe(false);
      });

      it("merges an update patch into the stored record", async () => {
        await store.insertSandbox(sandbox("sb-1", { status: "pending" }));
        await store.updateSandbox("sb-1", { status: "running", ipAddress: "10.0.0.9", startedAt: at(5) });
        expect(await store.getSandbox("sb-1")).toEqual(
          sandbox("sb-1", { status: "running", ipAddress: "10.0.0.9", startedAt: at(5) }),
        );
        await store.updateSandbox("sb-1", { env: { ONLY: "this" }, config: { env: [], workingDir: "/", user: "0:0" } });
        expect(await store.getSandbox("sb-1")).toMatchObject({
          status: "running",
          ipAddress: "10.0.0.9",
          env: { ONLY: "this" },
          config: { env: [], workingDir: "/", user: "0:0" },
        });
      });

      it("ignores an update of an unknown sandbox", async () => {
        await expect(store.updateSandbox("sb-nope", { status: "terminated" })).resolves.toBeUndefined();
        expect(await store.getSandbox("sb-nope")).toBeUndefined();
        expect(await store.listSandboxes({ includeTerminated: true })).toEqual([]);
      });

      it("lists newest first, filtered by project, without terminated unless asked", async () => {
        await store.insertSandbox(sandbox("sb-mid", { createdAt: at(20) }));
        await store.insertSandbox(sandbox("sb-old", { createdAt: at(10), status: "terminated", terminatedAt: at(11) }));
        await store.insertSandbox(sandbox("sb-new", { createdAt: at(30), status: "pending" }));
        await store.insertSandbox(sandbox("sb-other", { project: "team-b", createdAt: at(25) }));
        expect(ids(await store.listSandboxes({ project: "default" }))).toEqual(["sb-new", "sb-mid"]);
        expect(ids(await store.listSandboxes({ project: "default", includeTerminated: false }))).toEqual([
          "sb-new",
          "sb-mid",
        ]);
        expect(ids(await store.listSandboxes({ project: "default", includeTerminated: true }))).toEqual([
          "sb-new",
          "sb-mid",
          "sb-old",
        ]);
        expect(ids(await store.listSandboxes({ project: "team-b", includeTerminated: true }))).toEqual(["sb-other"]);
        expect(ids(await store.listSandboxes({}))).toEqual(["sb-new", "sb-other", "sb-mid"]);
        expect(ids(await store.listSandboxes({ includeTerminated: true }))).toEqual([
          "sb-new",
          "sb-other",
          "sb-mid",
          "sb-old",
        ]);
        expect(await store.listSandboxes({ project: "nope", includeTerminated: true })).toEqual([]);
        expect((await store.listSandboxes({ project: "default" }))[0]).toEqual(
          sandbox("sb-new", { createdAt: at(30), status: "pending" }),
        );
      });

      it("lists by the current status after updates", async () => {
        await store.insertSandbox(sandbox("sb-1"));
        await store.updateSandbox("sb-1", { status: "terminated", terminatedAt: at(9) });
        expect(await store.listSandboxes({ project: "default" })).toEqual([]);
        expect((await store.listSandboxes({ project: "default", includeTerminated: true }))[0]?.terminatedAt).toBe(
          at(9),
        );
      });

      it("finds by name within the project, preferring the live sandbox, else the newest", async () => {
        await store.insertSandbox(sandbox("sb-dead-new", { name: "web", status: "terminated", createdAt: at(50) }));
        await store.insertSandbox(sandbox("sb-dead-old", { name: "web", status: "terminated", createdAt: at(40) }));
        expect((await store.findSandboxByName("default", "web"))?.id).toBe("sb-dead-new");
        await store.insertSandbox(sandbox("sb-live", { name: "web", status: "running", createdAt: at(30) }));
        expect(await store.findSandboxByName("default", "web")).toEqual(
          sandbox("sb-live", { name: "web", status: "running", createdAt: at(30) }),
        );
        expect(await store.findSandboxByName("team-b", "web")).toBeUndefined();
        expect(await store.findSandboxByName("default", "api")).toBeUndefined();
        expect(await store.findSandboxByName("default", "sb-live")).toBeUndefined();
      });

      it("finds a sandbox by the name it was renamed to, not the old one", async () => {
        await store.insertSandbox(sandbox("sb-1", { name: "old" }));
        await store.updateSandbox("sb-1", { name: "new" });
        expect((await store.findSandboxByName("default", "new"))?.id).toBe("sb-1");
        expect(await store.findSandboxByName("default", "old")).toBeUndefined();
      });

      it("allows one live sandbox per name and project", async () => {
        await store.insertSandbox(sandbox("sb-1", { name: "web", status: "pending" }));
        await expectSbxError(store.insertSandbox(sandbox("sb-2", { name: "web", createdAt: at(1) })), "already_exists");
        expect(await store.getSandbox("sb-2")).toBeUndefined();
        await store.insertSandbox(sandbox("sb-3", { name: "web", project: "team-b" }));
        await store.insertSandbox(sandbox("sb-4", { name: null }));
        await store.insertSandbox(sandbox("sb-5", { name: null }));
        expect(ids(await store.listSandboxes({ includeTerminated: true })).sort()).toEqual([
          "sb-1",
          "sb-3",
          "sb-4",
          "sb-5",
        ]);
      });

      it("frees the name when the live sandbox is terminated", async () => {
        await store.insertSandbox(sandbox("sb-1", { name: "web" }));
        await store.updateSandbox("sb-1", { status: "terminated" });
        await store.insertSandbox(sandbox("sb-2", { name: "web", createdAt: at(1) }));
        expect((await store.findSandboxByName("default", "web"))?.id).toBe("sb-2");
        expect((await store.getSandbox("sb-1"))?.status).toBe("terminated");
      });

      it("refuses an update that would give a second live sandbox a taken name", async () => {
        await store.insertSandbox(sandbox("sb-1", { name: "web" }));
        await store.insertSandbox(sandbox("sb-2", { name: "api" }));
        await expect(store.updateSandbox("sb-2", { name: "web" })).rejects.toThrow();
        expect((await store.getSandbox("sb-2"))?.name).toBe("api");
      });

      it("counts the net slots of live sandboxes only", async () => {
        expect([...(await store.usedNetSlots())]).toEqual([]);
        await store.insertSandbox(sandbox("sb-1", { netSlot: 1, status: "pending" }));
        await store.insertSandbox(sandbox("sb-2", { netSlot: 2, status: "running" }));
        await store.insertSandbox(sandbox("sb-3", { netSlot: 3, status: "terminated" }));
        await store.insertSandbox(sandbox("sb-4", { netSlot: null }));
        await store.insertSandbox(sandbox("sb-5", { netSlot: 5, project: "team-b" }));
        expect([...(await store.usedNetSlots())].sort()).toEqual([1, 2, 5]);
        await store.updateSandbox("sb-2", { status: "terminated" });
        await store.updateSandbox("sb-5", { netSlot: null });
        expect([...(await store.usedNetSlots())].sort()).toEqual([1]);
      });

      it("never gives a live net slot to a second live sandbox", async () => {
        await store.insertSandbox(sandbox("sb-1", { netSlot: 4 }));
        await expectSbxError(
          store.insertSandbox(sandbox("sb-2", { netSlot: 4, project: "team-b" })),
          "failed_precondition",
        );
        expect(await store.getSandbox("sb-2")).toBeUndefined();
        await store.updateSandbox("sb-1", { status: "terminated" });
        await store.insertSandbox(sandbox("sb-3", { netSlot: 4 }));
        expect([...(await store.usedNetSlots())]).toEqual([4]);
      });
    });

    describe("processes", () => {
      beforeEach(async () => {
        await store.insertSandbox(sandbox("sb-1"));
        await store.insertSandbox(sandbox("sb-2", { project: "team-b" }));
      });

      it("inserts and gets a process, scoped by its sandbox", async () => {
        const p = proc("pr-1", "sb-1", { args: ["a b", "", "ü"], stdin: true, deadline: at(60) });
        await store.insertProcess(p);
        expect(await store.getProcess("sb-1", "pr-1")).toEqual(p);
        expect(await store.getProcess("sb-2", "pr-1")).toBeUndefined();
        expect(await store.getProcess("sb-1", "pr-2")).toBeUndefined();
      });

      it("merges an update patch and ignores unknown ids", async () => {
        await store.insertProcess(proc("pr-1", "sb-1"));
        await store.updateProcess("pr-1", { status: "exited", exitCode: 3, endedAt: at(9) });
        await store.updateProcess("pr-1", { signal: "SIGKILL" });
        expect(await store.getProcess("sb-1", "pr-1")).toEqual(
          proc("pr-1", "sb-1", { status: "exited", exitCode: 3, endedAt: at(9), signal: "SIGKILL" }),
        );
        await expect(store.updateProcess("pr-nope", { status: "exited" })).resolves.toBeUndefined();
        expect(await store.getProcess("sb-1", "pr-nope")).toBeUndefined();
      });

      it("lists a sandbox's processes in start order", async () => {
        await store.insertProcess(proc("pr-late", "sb-1", { startedAt: at(30) }));
        await store.insertProcess(proc("pr-early", "sb-1", { startedAt: at(10) }));
        await store.insertProcess(proc("pr-mid", "sb-1", { startedAt: at(20), status: "exited", exitCode: 0 }));
        await store.insertProcess(proc("pr-other", "sb-2", { startedAt: at(15) }));
        expect(ids(await store.listProcesses("sb-1"))).toEqual(["pr-early", "pr-mid", "pr-late"]);
        expect((await store.listProcesses("sb-1"))[1]).toEqual(
          proc("pr-mid", "sb-1", { startedAt: at(20), status: "exited", exitCode: 0 }),
        );
        expect(ids(await store.listProcesses("sb-2"))).toEqual(["pr-other"]);
        expect(await store.listProcesses("sb-nope")).toEqual([]);
      });

      it("lists running processes of all sandboxes, by current status", async () => {
        await store.insertProcess(proc("pr-1", "sb-1"));
        await store.insertProcess(proc("pr-2", "sb-1", { status: "exited", exitCode: 0 }));
        await store.insertProcess(proc("pr-3", "sb-2", { startedAt: at(5) }));
        expect(ids(await store.listRunningProcesses()).sort()).toEqual(["pr-1", "pr-3"]);
        await store.updateProcess("pr-1", { status: "exited", exitCode: 1 });
        expect(await store.listRunningProcesses()).toEqual([proc("pr-3", "sb-2", { startedAt: at(5) })]);
      });

      it("finds the exited processes beyond a sandbox's newest ones, oldest first, and deletes them", async () => {
        const exited = { status: "exited", exitCode: 0 } as const;
        await store.insertProcess(proc("pr-b", "sb-1", { startedAt: at(1), ...exited }));
        await store.insertProcess(proc("pr-a", "sb-1", { startedAt: at(1), ...exited })); // same start: by id
        await store.insertProcess(proc("pr-running", "sb-1", { startedAt: at(2) }));
        await store.insertProcess(proc("pr-c", "sb-1", { startedAt: at(3), ...exited }));
        await store.insertProcess(proc("pr-new", "sb-1", { startedAt: at(4), ...exited }));
        await store.insertProcess(proc("pr-other", "sb-2", { startedAt: at(0), ...exited }));
        // The newest 2 stay whatever their status; an old one still running is never named.
        expect(await store.exitedProcessesBeyond("sb-1", 2)).toEqual(["pr-a", "pr-b"]);
        expect(await store.exitedProcessesBeyond("sb-1", 0)).toEqual(["pr-a", "pr-b", "pr-c", "pr-new"]);
        expect(await store.exitedProcessesBeyond("sb-1", 5)).toEqual([]);
        expect(await store.exitedProcessesBeyond("sb-nope", 0)).toEqual([]);
        // Scoped by the sandbox: another's process is not deleted through this one.
        expect(await store.deleteProcesses("sb-1", ["pr-a", "pr-b", "pr-other", "pr-nope"])).toBe(2);
        expect(ids(await store.listProcesses("sb-1"))).toEqual(["pr-running", "pr-c", "pr-new"]);
        expect(ids(await store.listProcesses("sb-2"))).toEqual(["pr-other"]);
        expect(await store.deleteProcesses("sb-1", [])).toBe(0);
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
      beforeEach(async () => {
        await store.insertSandbox(sandbox("sb-1"));
        await store.insertSandbox(sandbox("sb-2", { project: "team-b" }));
      });

      it("puts, gets and lists exposures by port; a second put of a port replaces it", async () => {
        await store.putPortExposure(expo("sb-1", 8080));
        await store.putPortExposure(expo("sb-1", 443, { public: true }));
        await store.putPortExposure(expo("sb-2", 8080, { project: "team-b" }));
        expect(await store.getPortExposure("sb-1", 8080)).toEqual(expo("sb-1", 8080));
        expect(await store.getPortExposure("sb-1", 9999)).toBeUndefined();
        expect((await store.listPortExposures("sb-1")).map((e) => e.port)).toEqual([443, 8080]);
        expect((await store.listPortExposures()).map((e) => `${e.sandboxId}:${e.port}`)).toEqual([
          "sb-1:443",
          "sb-1:8080",
          "sb-2:8080",
        ]);
        await store.putPortExposure(expo("sb-1", 8080, { public: true }));
        expect(await store.getPortExposure("sb-1", 8080)).toEqual(expo("sb-1", 8080, { public: true }));
        expect(await store.listPortExposures("sb-1")).toHaveLength(2);
      });

      it("deletes one port or all of a sandbox's, saying whether anything went", async () => {
        await store.putPortExposure(expo("sb-1", 8080));
        await store.putPortExposure(expo("sb-1", 443));
        await store.putPortExposure(expo("sb-2", 8080, { project: "team-b" }));
        expect(await store.deletePortExposure("sb-1", 8080)).toBe(true);
        expect(await store.deletePortExposure("sb-1", 8080)).toBe(false);
        expect((await store.listPortExposures("sb-1")).map((e) => e.port)).toEqual([443]);
        expect(await store.deletePortExposure("sb-1")).toBe(true);
        expect(await store.listPortExposures("sb-1")).toEqual([]);
        expect(await store.listPortExposures("sb-2")).toEqual([expo("sb-2", 8080, { project: "team-b" })]);
      });
    });

    describe("volumes", () => {
      const vol = (id: string, name: string, project = "default") => ({
        id,
        project,
        name,
        sizeMb: 64,
        createdAt: at(1),
      });

      it("inserts, gets by project and name, lists by name and deletes", async () => {
        await store.insertVolume(vol("vol-b", "data"));
        await store.insertVolume(vol("vol-a", "cache"));
        await store.insertVolume(vol("vol-c", "data", "team-b"));
        expect(await store.getVolume("default", "data")).toEqual(vol("vol-b", "data"));
        expect(await store.getVolume("default", "nope")).toBeUndefined();
        expect(ids(await store.listVolumes("default"))).toEqual(["vol-a", "vol-b"]);
        expect(ids(await store.listVolumes())).toEqual(["vol-a", "vol-b", "vol-c"]);
        expect(await store.deleteVolume("vol-b")).toBe(true);
        expect(await store.deleteVolume("vol-b")).toBe(false);
        expect(await store.getVolume("default", "data")).toBeUndefined();
        expect(await store.getVolume("team-b", "data")).toEqual(vol("vol-c", "data", "team-b"));
      });

      it("refuses a second volume of the same name in a project with already_exists", async () => {
        await store.insertVolume(vol("vol-1", "data"));
        await expectSbxError(store.insertVolume(vol("vol-2", "data")), "already_exists");
        expect(ids(await store.listVolumes("default"))).toEqual(["vol-1"]);
      });

      it("reads volumes inside a transaction and rolls a delete back with it", async () => {
        await store.insertVolume(vol("vol-1", "data"));
        await expect(
          store.transaction(async (tx) => {
            expect(await tx.getVolume("default", "data")).toEqual(vol("vol-1", "data"));
            await tx.deleteVolume("vol-1");
            throw new Error("abort");
          }),
        ).rejects.toThrow("abort");
        expect(await store.getVolume("default", "data")).toEqual(vol("vol-1", "data"));
      });
    });
  });
}
