// Strays on the run's throwaway PostgreSQL: a sandbox a node reports that the control plane has no
// placement, given-up row or move for is told to be destroyed once reported unknown for longer than
// a lease, never while a create on that node is in flight, and never when it is known.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openClusterDb, type ClusterDb } from "./cluster-db.js";
import { NodeRegistry } from "./node-registry.js";
import { Placer } from "./placement.js";
import { report } from "../testing/cluster-kit.js";
import { freshSchema, pgTestUrl } from "../testing/pg-test.js";

let db: ClusterDb;
beforeAll(async () => {
  db = await openClusterDb({ url: pgTestUrl(), schema: freshSchema("strays") });
});
afterAll(() => db.close());

describe("strays", () => {
  it("destroys what a node runs unknown for longer than a lease, and nothing known or in flight", async () => {
    let clock = 0;
    const told: string[] = [];
    const reg = new NodeRegistry(db.pool, {
      leaseSecs: 30,
      now: () => clock,
      onStrays: (_n, ids) => told.push(...ids),
    });
    const { token } = await reg.add("stray-1", { pool: "stray-1" });
    await reg.register(token, report(8, 8192));
    const placer = new Placer(db.pool);
    await placer.place({ sandboxId: "sb-placed", project: "p", cpus: 1, memoryMb: 512, layers: [], selector: {} });
    await db.pool.query(
      `INSERT INTO given_up (sandbox_id, node, project, reason, destroyed_at)
       VALUES ('sb-moved', 'stray-1', 'p', 'moved to n9', now())`,
    );
    await db.pool.query(
      `INSERT INTO sandbox_moves (sandbox_id, project, name, from_node, state, why)
       VALUES ('sb-moving', 'p', 'm', 'n0', 'moving', 'drain')`,
    );
    const ids = ["sb-placed", "sb-moved", "sb-moving", "sb-orphan"];
    const beat = async () => (await reg.heartbeat(token, { ...report(8, 8192), sandboxIds: ids })).destroy ?? [];
    // First seen now: a create whose confirm has not landed yet looks the same, so nothing yet.
    expect(await beat()).toEqual([]);
    clock += 29_000;
    expect(await beat()).toEqual([]);
    // A create in flight on this node (its provisional placement): still nothing, whatever the age.
    await placer.place({
      sandboxId: "pending-1",
      project: "p",
      cpus: 1,
      memoryMb: 512,
      layers: [],
      selector: { pool: "stray-1" },
    });
    clock += 2_000;
    expect(await beat()).toEqual([]);
    await placer.release("pending-1");
    // Unknown for longer than a lease, no create in flight: destroyed, and only it.
    expect(await beat()).toEqual(["sb-orphan"]);
    expect(told).toEqual(["sb-orphan"]);
    // Gone from the node's report: forgotten; reported again, it starts a new lease-long wait.
    ids.pop();
    expect(await beat()).toEqual([]);
    ids.push("sb-orphan");
    expect(await beat()).toEqual([]);
  });
});
