// The sandbox records of the Store contract (storeConformance() runs it): round trips, updates,
// listing by project, status and label, names, and network slots.
import { beforeEach, describe, expect, it } from "vitest";
import type { Store } from "./store.js";
import { at, expectSbxError, ids, sandbox } from "./testing/store-records.js";

/** Part of storeConformance(): `current` is the fresh store of each test. */
export function sandboxStoreConformance(current: () => Store): void {
  describe("sandboxes", () => {
    let store: Store;
    beforeEach(() => {
      store = current();
    });
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
      expect((await store.listSandboxes({ project: "default", includeTerminated: true }))[0]?.terminatedAt).toBe(at(9));
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
}
