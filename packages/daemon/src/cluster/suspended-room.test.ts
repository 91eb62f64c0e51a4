// Suspended sandboxes on the run's throwaway PostgreSQL: a suspended sandbox holds no room on its
// node (its placement and quota usage stay), a resume takes the room back on the same node or is
// refused with nothing changed, node reports flag what the node suspended or resumed by itself,
// freeing never drives a node's allocation wrong, and two replicas (separate pools) resuming and
// placing at once never over-commit a node.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { SbxError } from "@sbx-sh/protocol";
import { openClusterDb, type ClusterDb } from "./cluster-db.js";
import { GivenUp } from "./given-up.js";
import { NodeRegistry } from "./node-registry.js";
import { Placer } from "./placement.js";
import { report } from "../testing/cluster-kit.js";
import { freshSchema, pgTestUrl } from "../testing/pg-test.js";

let a: ClusterDb;
let b: ClusterDb;
beforeAll(async () => {
  const schema = freshSchema("suspended");
  a = await openClusterDb({ url: pgTestUrl(), schema, poolMax: 8 });
  b = await openClusterDb({ url: pgTestUrl(), schema, poolMax: 8 });
});
afterAll(async () => {
  await a.close();
  await b.close();
});
beforeEach(async () => {
  await a.pool.query(
    "DELETE FROM placements; DELETE FROM project_quotas; DELETE FROM sandbox_moves; DELETE FROM nodes",
  );
});

const code = (e: unknown): string => (e instanceof SbxError ? e.code : String(e));

async function node(name: string, cpus: number): Promise<{ reg: NodeRegistry; token: string }> {
  const reg = new NodeRegistry(a.pool, { leaseSecs: 30 });
  const { token } = await reg.add(name);
  await reg.register(token, report(cpus, cpus * 1024));
  return { reg, token };
}
const place = (p: Placer, id: string, project = "p") =>
  p.place({ sandboxId: id, project, cpus: 1, memoryMb: 1024, layers: [], selector: {} });
const allocated = async (name: string) => {
  const { rows } = await a.pool.query(
    "SELECT alloc_cpu_millis AS c, alloc_memory_mb AS m, alloc_sandboxes AS n FROM nodes WHERE name = $1",
    [name],
  );
  return rows[0] as { c: number; m: number; n: number };
};
const age = (id: string) =>
  a.pool.query("UPDATE placements SET placed_at = now() - interval '1 hour' WHERE sandbox_id = $1", [id]);

describe("suspended sandboxes", () => {
  it("hold no room on their node; a resume takes it back there, or is refused changing nothing", async () => {
    await node("s1", 2);
    const placer = new Placer(a.pool);
    await placer.setQuota("p", { maxSandboxes: null, maxCpus: 10, maxMemoryMb: null });
    await place(placer, "sb-a");
    await place(placer, "sb-b");
    expect(code(await place(placer, "sb-c").catch((e: unknown) => e))).toBe("failed_precondition");
    expect(await placer.suspend("sb-a")).toBe(true);
    expect(await placer.suspend("sb-a")).toBe(false);
    expect(await allocated("s1")).toEqual({ c: 1000, m: 1024, n: 2 });
    // Still placed (routing) and still in its project's quota usage.
    const { rows } = await a.pool.query("SELECT node, suspended FROM placements WHERE sandbox_id = 'sb-a'");
    expect(rows).toEqual([{ node: "s1", suspended: true }]);
    expect((await a.pool.query("SELECT used_cpu_millis FROM project_quotas")).rows[0].used_cpu_millis).toBe(2000);
    // The idle room takes a new sandbox; then the suspended one has none to resume into.
    await place(placer, "sb-c");
    const refused = await placer.resume("sb-a").catch((e: unknown) => e);
    expect(code(refused)).toBe("failed_precondition");
    expect((refused as Error).message).toMatch(/node s1 has no room to resume sandbox sb-a \(1 cpus and 1024 MB\)/);
    expect(await allocated("s1")).toEqual({ c: 2000, m: 2048, n: 3 });
    expect((await a.pool.query("SELECT suspended FROM placements WHERE sandbox_id = 'sb-a'")).rows[0].suspended).toBe(
      true,
    );
    await placer.release("sb-c");
    expect(await placer.resume("sb-a")).toBe(true);
    expect(await placer.resume("sb-a")).toBe(false);
    expect(await allocated("s1")).toEqual({ c: 2000, m: 2048, n: 2 });
    // Ending a suspended one frees its count only (it held no room).
    await placer.suspend("sb-b");
    expect(await placer.release("sb-b")).toBe(true);
    expect(await allocated("s1")).toEqual({ c: 1000, m: 1024, n: 1 });
  });

  it("two replicas resuming and placing at once never over-commit a node", async () => {
    await node("s2", 4);
    const pa = new Placer(a.pool);
    const pb = new Placer(b.pool);
    for (const id of ["r1", "r2", "r3", "r4"]) {
      await place(pa, id);
      await pa.suspend(id);
    }
    await place(pa, "busy-1");
    await place(pa, "busy-2");
    // 2 cpus free: four resumes (each twice, one per replica) and two new placements race for them.
    const tries = [
      ...["r1", "r2", "r3", "r4"].flatMap((id) => [pa.resume(id), pb.resume(id)]),
      place(pa, "new-1"),
      place(pb, "new-2"),
    ];
    const out = await Promise.allSettled(tries);
    const won = out.filter((o) => o.status === "fulfilled" && o.value !== false).length;
    expect(won).toBe(2);
    const n = await allocated("s2");
    expect(n.c).toBe(4000);
    const { rows } = await a.pool.query(
      "SELECT coalesce(sum(cpu_millis), 0)::integer AS c FROM placements WHERE node = 's2' AND NOT suspended",
    );
    expect(rows[0].c).toBe(4000);
  });

  it("a resume racing another of the same sandbox waits for it, and takes the room once", async () => {
    await node("s5", 4);
    const placer = new Placer(a.pool);
    await place(placer, "x1");
    await placer.suspend("x1");
    const other = await b.pool.connect();
    try {
      await other.query("BEGIN");
      expect(await new Placer(other as unknown as typeof b.pool).resume("x1")).toBe(true);
      const racing = placer.resume("x1");
      // Until the first commits, the second waits on a lock (on the placement row: it then sees it resumed).
      for (let i = 0; i < 500; i++) {
        const { rows } = await a.pool.query("SELECT count(*)::integer AS n FROM pg_locks WHERE NOT granted");
        if (rows[0].n > 0) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      await other.query("COMMIT");
      expect(await racing).toBe(false);
    } finally {
      other.release();
    }
    expect(await allocated("s5")).toEqual({ c: 1000, m: 1024, n: 1 });
  });

  it("follow the node's reports: suspended by itself frees, resumed by itself takes, never against a fresh change", async () => {
    const { reg, token } = await node("s3", 2);
    const placer = new Placer(a.pool);
    await place(placer, "t1");
    await place(placer, "t2");
    const beat = (suspended: string[]) =>
      reg.heartbeat(token, { ...report(2, 2048), sandboxIds: ["t1", "t2"], suspended });
    // t1 suspended at its timeout on the node, but placed a moment ago: the report may predate it.
    await beat(["t1"]);
    expect((await allocated("s3")).c).toBe(2000);
    await age("t1");
    await beat(["t1"]);
    expect(await allocated("s3")).toEqual({ c: 1000, m: 1024, n: 2 });
    // A report made before a resume through the control plane cannot undo it.
    await age("t1");
    expect(await placer.resume("t1")).toBe(true);
    await beat(["t1"]);
    expect((await allocated("s3")).c).toBe(2000);
    // Suspended through the control plane, then resumed on the node behind its back: taken again.
    await placer.suspend("t2");
    await age("t2");
    await beat([]);
    expect(await allocated("s3")).toEqual({ c: 2000, m: 2048, n: 2 });
    // A sandbox being moved is the move's business.
    await age("t2");
    await a.pool.query(
      "INSERT INTO sandbox_moves (sandbox_id, project, name, from_node, state, why) VALUES ('t2', 'p', 't2', 's3', 'moving', 'drain')",
    );
    await beat(["t2"]);
    expect((await allocated("s3")).c).toBe(2000);
  });

  it("freeing a suspended sandbox's placement (ended, given up) never counts its room twice", async () => {
    const { reg, token } = await node("s4", 4);
    const placer = new Placer(a.pool);
    for (const id of ["u1", "u2", "u3"]) await place(placer, id);
    await placer.suspend("u1");
    await placer.suspend("u2");
    await age("u1");
    // u1 ended on the node: its placement goes, the node's allocation as it was but one sandbox.
    await reg.heartbeat(token, { ...report(4, 4096), sandboxIds: ["u2", "u3"], suspended: ["u2"] });
    expect(await allocated("s4")).toEqual({ c: 1000, m: 1024, n: 2 });
    // The node is lost and given up: everything freed, nothing below zero.
    await a.pool.query("UPDATE nodes SET state = 'lost', lost_at = now() - interval '1 hour' WHERE name = 's4'");
    expect((await new GivenUp(a.pool).giveUpLost(60)).get("s4")?.sort()).toEqual(["u2", "u3"]);
    expect(await allocated("s4")).toEqual({ c: 0, m: 0, n: 0 });
  });
});
