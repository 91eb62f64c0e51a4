// Placement on the run's throwaway PostgreSQL: best of the sampled nodes by room and cached
// layers, node selectors, per-project quotas, release, and the property that matters most: two
// control replicas (separate pools) placing at the same time never over-commit a node or a quota.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { SbxError } from "@sbx-sh/protocol";
import { openClusterDb, type ClusterDb } from "./cluster-db.js";
import { NodeRegistry } from "./node-registry.js";
import { Placer, type PlacementRequest } from "./placement.js";
import { digest, report } from "../testing/cluster-kit.js";
import { freshSchema, pgTestUrl } from "../testing/pg-test.js";

let replicaA: ClusterDb;
let replicaB: ClusterDb;
let seq = 0;
beforeAll(async () => {
  const schema = freshSchema("place");
  replicaA = await openClusterDb({ url: pgTestUrl(), schema, poolMax: 8 });
  replicaB = await openClusterDb({ url: pgTestUrl(), schema, poolMax: 8 });
});
afterAll(async () => {
  await replicaA.close();
  await replicaB.close();
});
// Each test has the cluster to itself.
beforeEach(async () => {
  await replicaA.pool.query("DELETE FROM placements; DELETE FROM project_quotas; DELETE FROM nodes");
});

const req = (over: Partial<PlacementRequest> = {}): PlacementRequest => ({
  sandboxId: `sb-${++seq}`,
  project: "default",
  cpus: 1,
  memoryMb: 512,
  layers: [],
  selector: {},
  ...over,
});

async function addNodes(
  specs: { name: string; cpus: number; memoryMb: number; labels?: Record<string, string>; layers?: string[] }[],
) {
  const reg = new NodeRegistry(replicaA.pool, { leaseSecs: 300 });
  for (const s of specs) {
    const { token } = await reg.add(s.name, s.labels ?? {});
    await reg.register(token, report(s.cpus, s.memoryMb, s.layers ?? []));
  }
  return reg;
}

const errCode = (e: unknown): string => (e instanceof SbxError ? e.code : String(e));

describe("Placer", () => {
  it("ranks cached layers first, then the most room left", async () => {
    const d = [digest(1), digest(2)];
    const reg = await addNodes([
      { name: "roomy", cpus: 4, memoryMb: 4096 },
      { name: "cached", cpus: 4, memoryMb: 4096, layers: d, labels: { fill: "cached" } },
      { name: "mid", cpus: 4, memoryMb: 4096, labels: { fill: "mid" } },
    ]);
    const placer = new Placer(replicaA.pool);
    // cached: 1 cpu / 1 GB free after fillers; mid: 2 / 2; roomy: 4 / 4.
    for (let i = 0; i < 3; i++) await placer.place(req({ cpus: 1, memoryMb: 1024, selector: { fill: "cached" } }));
    for (let i = 0; i < 2; i++) await placer.place(req({ cpus: 1, memoryMb: 1024, selector: { fill: "mid" } }));
    const withLayers = await placer.place(req({ cpus: 1, memoryMb: 1024, layers: d }));
    expect(withLayers).toMatchObject({ node: "cached", cachedLayers: 2, candidates: 3 });
    expect((await placer.place(req({ cpus: 0.5, memoryMb: 256 }))).node).toBe("roomy");
    await reg.setState("roomy", "cordoned");
    expect((await placer.place(req({ cpus: 0.5, memoryMb: 256 }))).node).toBe("mid");
  });

  it("places on the node with the most room, records it, and releases it", async () => {
    await addNodes([
      { name: "small", cpus: 2, memoryMb: 1024 },
      { name: "big", cpus: 8, memoryMb: 16384 },
    ]);
    const placer = new Placer(replicaA.pool);
    const r = req();
    expect((await placer.place(r)).node).toBe("big");
    const nodes = await new NodeRegistry(replicaA.pool).list();
    expect(nodes.find((n) => n.name === "big")?.allocated).toEqual({ cpus: 1, memoryMb: 512, sandboxes: 1 });
    expect(errCode(await placer.place({ ...r }).catch((e) => e))).toBe("already_exists");
    expect(await placer.release(r.sandboxId)).toBe(true);
    expect(await placer.release(r.sandboxId)).toBe(false);
    expect((await new NodeRegistry(replicaA.pool).list()).find((n) => n.name === "big")?.allocated).toEqual({
      cpus: 0,
      memoryMb: 0,
      sandboxes: 0,
    });
  });

  it("prefers a node that holds the image's layers over a roomier one", async () => {
    await addNodes([
      { name: "roomy", cpus: 16, memoryMb: 32768 },
      { name: "warm", cpus: 4, memoryMb: 4096, layers: [digest(1), digest(2), digest(3)] },
    ]);
    const p = await new Placer(replicaA.pool).place(req({ layers: [digest(1), digest(2)] }));
    expect(p).toMatchObject({ node: "warm", cachedLayers: 2 });
  });

  it("honours the node selector and never places on cordoned, lost or full nodes", async () => {
    const reg = await addNodes([
      { name: "gpu-1", cpus: 4, memoryMb: 4096, labels: { gpu: "a100", zone: "x" } },
      { name: "cpu-1", cpus: 64, memoryMb: 65536, labels: { zone: "x" } },
      { name: "gpu-2", cpus: 64, memoryMb: 65536, labels: { gpu: "a100", zone: "y" } },
    ]);
    await reg.setState("gpu-2", "cordoned");
    const placer = new Placer(replicaA.pool);
    expect((await placer.place(req({ selector: { gpu: "a100" } }))).node).toBe("gpu-1");
    const none = await placer.place(req({ selector: { gpu: "h100" } })).catch((e: unknown) => e);
    expect(errCode(none)).toBe("failed_precondition");
    expect((none as Error).message).toMatch(/h100/);
    expect(errCode(await placer.place(req({ cpus: 100 })).catch((e) => e))).toBe("failed_precondition");
    await replicaA.pool.query("UPDATE nodes SET lease_expires_at = now() - interval '1 second' WHERE name = 'gpu-1'");
    expect(errCode(await placer.place(req({ selector: { gpu: "a100" } })).catch((e) => e))).toBe("failed_precondition");
    expect(errCode(await placer.place(req({ cpus: 0 })).catch((e) => e))).toBe("invalid_argument");
  });

  it("enforces per-project quotas and counts only that project", async () => {
    await addNodes([{ name: "n1", cpus: 64, memoryMb: 65536 }]);
    const placer = new Placer(replicaA.pool);
    await placer.setQuota("team-a", { maxSandboxes: 10, maxCpus: 3, maxMemoryMb: null });
    await placer.place(req({ project: "team-a", cpus: 2 }));
    const over = await placer.place(req({ project: "team-a", cpus: 2 })).catch((e: unknown) => e);
    expect(errCode(over)).toBe("failed_precondition");
    expect((over as Error).message).toMatch(/quota of 3 cpus/);
    await placer.place(req({ project: "team-a", cpus: 1 }));
    await placer.place(req({ project: "team-b", cpus: 8 }));
    const { rows } = await replicaA.pool.query(
      "SELECT project, count(*)::int AS n FROM placements GROUP BY 1 ORDER BY 1",
    );
    expect(rows).toEqual([
      { project: "team-a", n: 2 },
      { project: "team-b", n: 1 },
    ]);
  });

  it("keeps each quota's usage counters equal to the sum of the project's placements, whatever changes them", async () => {
    await addNodes([{ name: "u1", cpus: 64, memoryMb: 65536 }]);
    const placer = new Placer(replicaA.pool);
    const counted = async () =>
      (
        await replicaA.pool.query(
          `SELECT q.project, q.used_sandboxes = count(p.*) AND q.used_cpu_millis = coalesce(sum(p.cpu_millis), 0)
             AND q.used_memory_mb = coalesce(sum(p.memory_mb), 0) AS exact, q.used_sandboxes AS n
           FROM project_quotas q LEFT JOIN placements p ON p.project = q.project GROUP BY q.project ORDER BY 1`,
        )
      ).rows;
    // A quota set on a project that already has placements starts from their sum.
    const first = req({ project: "cnt", cpus: 2, memoryMb: 1024 });
    await placer.place(first);
    await placer.setQuota("cnt", { maxSandboxes: 100, maxCpus: 100, maxMemoryMb: null });
    expect(await counted()).toEqual([{ project: "cnt", exact: true, n: 1 }]);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = req({ project: "cnt", cpus: 1 + (i % 2) });
      await placer.place(r);
      ids.push(r.sandboxId);
    }
    await placer.release(ids[0]!);
    // A resized row, and rows deleted as the node registry and give-up do, keep them exact too.
    await replicaA.pool.query("UPDATE placements SET cpu_millis = cpu_millis + 500 WHERE sandbox_id = $1", [ids[1]]);
    expect(await counted()).toEqual([{ project: "cnt", exact: true, n: 5 }]);
    await replicaA.pool.query("DELETE FROM placements WHERE sandbox_id = $1", [ids[2]]);
    expect(await counted()).toEqual([{ project: "cnt", exact: true, n: 4 }]);
    await placer.setQuota("cnt", { maxSandboxes: 4, maxCpus: 100, maxMemoryMb: null });
    expect(await counted()).toEqual([{ project: "cnt", exact: true, n: 4 }]);
    // At the limit the counters refuse, as the sum did.
    const over = await placer.place(req({ project: "cnt" })).catch((e: unknown) => e);
    expect((over as Error).message).toMatch(/quota of 4 sandboxes/);
    expect(await counted()).toEqual([{ project: "cnt", exact: true, n: 4 }]);
  });

  it("two replicas placing at once never over-commit a node", async () => {
    await addNodes(["c1", "c2", "c3", "c4"].map((name) => ({ name, cpus: 2, memoryMb: 2048 })));
    const a = new Placer(replicaA.pool, { k: 4 });
    const b = new Placer(replicaB.pool, { k: 4 });
    const results = await Promise.allSettled(
      Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).place(req({ cpus: 1, memoryMb: 512 }))),
    );
    const won = results.filter((r) => r.status === "fulfilled");
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    // 4 nodes x 2 cpus: exactly 8 fit, and every refusal is the coded "no room" error.
    expect(won).toHaveLength(8);
    expect(lost.map((r) => errCode(r.reason))).toEqual(Array(32).fill("failed_precondition"));
    const nodes = await replicaA.pool.query(
      `SELECT n.name, n.alloc_cpu_millis AS alloc, n.cpu_millis AS cap, coalesce(sum(p.cpu_millis), 0)::int AS placed
       FROM nodes n LEFT JOIN placements p ON p.node = n.name GROUP BY n.name ORDER BY n.name`,
    );
    for (const n of nodes.rows) {
      expect(n.alloc).toBeLessThanOrEqual(n.cap);
      expect(n.placed).toBe(n.alloc);
    }
    expect(nodes.rows.reduce((s, n) => s + n.placed, 0)).toBe(8000);
  });

  it("two replicas placing at once never exceed a project's quota", async () => {
    await addNodes([
      { name: "q1", cpus: 64, memoryMb: 65536 },
      { name: "q2", cpus: 64, memoryMb: 65536 },
    ]);
    const a = new Placer(replicaA.pool);
    const b = new Placer(replicaB.pool);
    await a.setQuota("capped", { maxSandboxes: 3, maxCpus: null, maxMemoryMb: null });
    const results = await Promise.allSettled(
      Array.from({ length: 12 }, (_, i) => (i % 2 ? a : b).place(req({ project: "capped" }))),
    );
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(3);
    const { rows } = await replicaA.pool.query("SELECT count(*)::int AS n FROM placements WHERE project = 'capped'");
    expect(rows[0].n).toBe(3);
  });
});
