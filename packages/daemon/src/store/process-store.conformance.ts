// The process records of the Store contract (storeConformance() runs it): scoped by their sandbox,
// listed in start order, and the history retention asks for and deletes.
import { beforeEach, describe, expect, it } from "vitest";
import type { Store } from "./store.js";
import { at, ids, proc, sandbox } from "./testing/store-records.js";

/** Part of storeConformance(): `current` is the fresh store of each test. */
export function processStoreConformance(current: () => Store): void {
  describe("processes", () => {
    let store: Store;
    beforeEach(() => {
      store = current();
    });
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
}
