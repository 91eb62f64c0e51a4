// Creates whose control replica died, on the run's throwaway PostgreSQL: a provisional placement is
// swept once the lease of the replica that placed it ran out (kill -9 leaves its row expired) or its
// row is gone (a clean stop), its room and quota usage given back, never while that replica is live
// however old the create; the node's copy is then a stray that node-strays destroys, and the dead
// replica's late confirm finds nothing. On a database from before placements named their replica,
// the migration keeps the eight-argument sbx_place calls working, and the rows it left are swept once
// no replica that was live when they were placed is live.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { openClusterDb, type ClusterDb } from "./cluster-db.js";
import { CLUSTER_MIGRATIONS } from "./cluster-schema.js";
import { NodeRegistry } from "./node-registry.js";
import { sweepOrphanCreates } from "./orphan-creates.js";
import { Placer } from "./placement.js";
import { ReplicaLease } from "./replica-lease.js";
import { SandboxDirectory } from "./sandbox-directory.js";
import type { Logger } from "../common/log.js";
import { migrate, ident } from "../store/postgres-schema.js";
import { report } from "../testing/cluster-kit.js";
import { freshSchema, pgTestUrl } from "../testing/pg-test.js";

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined };
const schema = freshSchema("orphans");
let db: ClusterDb;
beforeAll(async () => {
  db = await openClusterDb({ url: pgTestUrl(), schema });
});
afterAll(() => db.close());

const want = (sandboxId: string, node: string) => ({
  sandboxId,
  project: "p",
  cpus: 1,
  memoryMb: 512,
  layers: [],
  selector: { pool: node },
});
const allocated = async (pool: pg.Pool, node: string) =>
  (
    await pool.query(
      "SELECT alloc_cpu_millis AS c, alloc_memory_mb AS m, alloc_sandboxes AS n FROM nodes WHERE name = $1",
      [node],
    )
  ).rows[0] as { c: number; m: number; n: number };
/** A replica's lease row as it is left: live for `leftSecs` more (negative: ran out), started `agoSecs` ago. */
const replica = (pool: pg.Pool, id: string, leftSecs: number, agoSecs = 3600) =>
  pool.query(
    `INSERT INTO control_replicas (id, started_at, lease_expires_at)
     VALUES ($1, now() - make_interval(secs => $3), now() + make_interval(secs => $2))
     ON CONFLICT (id) DO UPDATE SET lease_expires_at = excluded.lease_expires_at`,
    [id, leftSecs, agoSecs],
  );

describe("creates whose control replica died", () => {
  it("are swept by the placing replica's lease, not their age; the node's copy becomes a stray", async () => {
    let clock = 0;
    const reg = new NodeRegistry(db.pool, { leaseSecs: 30, now: () => clock });
    const { token } = await reg.add("o1", { pool: "o1" });
    await reg.register(token, report(8, 8192));
    await replica(db.pool, "ctl-killed", 30);
    await replica(db.pool, "ctl-live", 30);
    const killed = new Placer(db.pool, { owner: "ctl-killed" });
    const live = new Placer(db.pool, { owner: "ctl-live" });
    await killed.setQuota("p", { maxSandboxes: null, maxCpus: 100, maxMemoryMb: null });
    await killed.place(want("pending-killed", "o1"));
    await killed.place(want("sb-done", "o1")); // confirmed (or a job's): never a sweep's
    await live.place(want("pending-live", "o1"));
    // An hour-long create (an image pull) of a live replica is left alone, as is everything while both live.
    await db.pool.query("UPDATE placements SET placed_at = now() - interval '1 hour'");
    expect(await sweepOrphanCreates(db.pool)).toEqual([]);
    // The node made the killed replica's sandbox: a stray the node reports, held off by the create in flight.
    const beat = async () =>
      (await reg.heartbeat(token, { ...report(8, 8192), sandboxIds: ["sb-made", "sb-done"] })).destroy ?? [];
    expect(await beat()).toEqual([]);
    clock += 31_000;
    expect(await beat()).toEqual([]);

    // kill -9: its lease runs out, its row stays.
    await replica(db.pool, "ctl-killed", -1);
    expect(await sweepOrphanCreates(db.pool)).toEqual([
      { sandboxId: "pending-killed", node: "o1", placedBy: "ctl-killed" },
    ]);
    expect(await sweepOrphanCreates(db.pool)).toEqual([]);
    expect(await allocated(db.pool, "o1")).toEqual({ c: 2000, m: 1024, n: 2 });
    const q = await db.pool.query("SELECT used_sandboxes AS n, used_cpu_millis AS c FROM project_quotas");
    expect(q.rows[0]).toEqual({ n: 2, c: 2000 });
    const { rows } = await db.pool.query("SELECT sandbox_id FROM placements ORDER BY 1");
    expect(rows.map((r: { sandbox_id: string }) => r.sandbox_id)).toEqual(["pending-live", "sb-done"]);
    // The killed replica's late confirm (had it only stalled) finds nothing: its caller hears so.
    expect(await new SandboxDirectory(db.pool).confirm("pending-killed", "sb-made", {})).toBe(false);
    // Still a create in flight on o1 (the live one's): the stray waits for it, then goes.
    expect(await beat()).toEqual([]);
    await live.release("pending-live");
    expect(await beat()).toEqual(["sb-made"]);
    await killed.release("sb-done");
    expect(await allocated(db.pool, "o1")).toEqual({ c: 0, m: 0, n: 0 });
  });

  it("are swept once the placing replica stopped cleanly (its lease row deleted)", async () => {
    const reg = new NodeRegistry(db.pool, { leaseSecs: 30 });
    await reg.register((await reg.add("o2", { pool: "o2" })).token, report(4, 4096));
    const lease = await ReplicaLease.start(pgTestUrl(), 30, quiet as unknown as Logger, schema);
    await new Placer(db.pool, { owner: lease.id }).place(want("pending-stopped", "o2"));
    expect(await sweepOrphanCreates(db.pool)).toEqual([]);
    await lease.close();
    expect(await sweepOrphanCreates(db.pool)).toEqual([
      { sandboxId: "pending-stopped", node: "o2", placedBy: lease.id },
    ]);
    expect(await allocated(db.pool, "o2")).toEqual({ c: 0, m: 0, n: 0 });
  });
});

describe("the migration on a database from before placements named their replica", () => {
  it("keeps old replicas' eight-argument placements working, and sweeps their rows by who was live", async () => {
    const old = freshSchema("orphans_old");
    const pool = new pg.Pool({ connectionString: pgTestUrl(), max: 2, options: `-c search_path=${ident(old)}` });
    try {
      await migrate(pool, old, CLUSTER_MIGRATIONS.slice(0, -1), "cluster_migrations");
      // As that version left it: an eight-argument sbx_place (a stand-in; this code's text has nine) and a
      // create in flight, placed an hour ago, by a replica started before it and live (or not) now.
      await pool.query(`CREATE OR REPLACE FUNCTION sbx_place(text, text, text, integer, integer, text[], jsonb, integer)
        RETURNS TABLE (node text, cached integer, candidates integer) LANGUAGE sql AS 'SELECT NULL::text, 0, 0 WHERE false'`);
      const reg = new NodeRegistry(pool, { leaseSecs: 30 });
      await reg.register((await reg.add("o3")).token, report(4, 4096));
      await pool.query(
        `INSERT INTO placements (sandbox_id, node, project, cpu_millis, memory_mb, placed_at)
         VALUES ('pending-old', 'o3', 'p', 1000, 512, now() - interval '1 hour');
         UPDATE nodes SET alloc_cpu_millis = 1000, alloc_memory_mb = 512, alloc_sandboxes = 1`,
      );
      await replica(pool, "ctl-old", 30, 7200);
      await replica(pool, "ctl-new", 30, 60);

      expect(await migrate(pool, old, CLUSTER_MIGRATIONS, "cluster_migrations")).toBe(1);
      // An old replica's call (eight arguments) reaches the new function: placed, naming no replica.
      const placed = await pool.query("SELECT node FROM sbx_place('pending-8', 'p', NULL, 1000, 512, '{}', '{}', 4)");
      expect(placed.rows).toEqual([{ node: "o3" }]);
      const owners = await pool.query("SELECT sandbox_id, placed_by FROM placements ORDER BY 1");
      expect(owners.rows).toEqual([
        { sandbox_id: "pending-8", placed_by: null },
        { sandbox_id: "pending-old", placed_by: null },
      ]);
      // ctl-old was live when both were placed and still is: either may be its create.
      expect(await sweepOrphanCreates(pool)).toEqual([]);
      // ctl-old gone: ctl-new (started after pending-old) may have placed pending-8 only.
      await replica(pool, "ctl-old", -1);
      expect(await sweepOrphanCreates(pool)).toEqual([{ sandboxId: "pending-old", node: "o3", placedBy: null }]);
      expect(await allocated(pool, "o3")).toEqual({ c: 1000, m: 512, n: 1 });
    } finally {
      await pool.query(`DROP SCHEMA ${ident(old)} CASCADE`).catch(() => undefined);
      await pool.end();
    }
  });
});
