// The contract of the Store interface as a vitest suite: every implementation (SQLite today, maybe
// Postgres later) calls storeConformance() from its own test file with a factory for a fresh store.
// Sandbox and process records have suites of their own (sandbox-store.conformance.ts,
// process-store.conformance.ts), run from here.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Store, Stores } from "./store.js";
import type { PortExposureRecord } from "../domain/records.js";
import { processStoreConformance } from "./process-store.conformance.js";
import { sandboxStoreConformance } from "./sandbox-store.conformance.js";
import { at, expectSbxError, ids, sandbox } from "./testing/store-records.js";

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

    sandboxStoreConformance(() => store);
    processStoreConformance(() => store);

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
