// Watching nodes for calls in flight: a watched node whose lease runs out (by the database's clock)
// or that is revoked gets its callbacks called once; a live one, or one no longer watched, never.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { openClusterDb, type ClusterDb } from "./cluster-db.js";
import { NodeRegistry } from "./node-registry.js";
import { NodeWatch } from "./node-watch.js";
import { report } from "../testing/cluster-kit.js";
import { freshSchema, pgTestUrl } from "../testing/pg-test.js";

let db: ClusterDb;
beforeAll(async () => {
  db = await openClusterDb({ url: pgTestUrl(), schema: freshSchema("watch") });
});
afterAll(() => db.close());

describe("NodeWatch", () => {
  it("calls back once for a node past its lease or revoked, never for a live or unwatched one", async () => {
    const reg = new NodeRegistry(db.pool, { leaseSecs: 300 });
    for (const name of ["w-live", "w-frozen", "w-revoked", "w-unwatched"])
      await reg.register((await reg.add(name)).token, report(2, 2048));
    const watch = new NodeWatch(db.pool, 50);
    const calls: string[] = [];
    for (const name of ["w-live", "w-frozen", "w-revoked", "w-unwatched"]) {
      const unwatch = watch.watch(name, (why) => calls.push(why));
      if (name === "w-unwatched") unwatch();
    }
    await db.pool.query(
      "UPDATE nodes SET lease_expires_at = now() - interval '1 second' WHERE name IN ('w-frozen', 'w-unwatched')",
    );
    await reg.setState("w-revoked", "revoked");
    await vi.waitFor(() => expect(calls.length).toBeGreaterThanOrEqual(2), { timeout: 10_000 });
    await new Promise((r) => setTimeout(r, 200));
    expect(calls.sort()).toEqual(["node w-frozen stopped renewing its lease", "node w-revoked was revoked"]);
    watch.stop();
  });
});
