// Placement decision time with many nodes and sandboxes registered in PostgreSQL (a simulation:
// nodes are rows with capacity, labels and cached layers, sandboxes are placement rows, no
// daemons). Each decision is Placer.place(): the whole transaction (quota check on the project's
// usage counters, candidate sample, ranking, conditional allocation, placement row), timed from the
// caller. Same-run baselines: a plain indexed SELECT (a node by primary key) on the same big
// tables, one `SELECT 1` round trip, and the same workload on 10 nodes. A sandbox ends after each
// decision (untimed), so the fleet stays at a steady load. Runs on its own throwaway PostgreSQL
// (`npx tsx --conditions=sbx-source bench/placement.ts`, or BENCH_ONLY=placement npm run bench).
import { openClusterDb, type ClusterDb } from "../packages/daemon/src/cluster/cluster-db.js";
import { NodeRegistry } from "../packages/daemon/src/cluster/node-registry.js";
import { Placer, type PlacementRequest } from "../packages/daemon/src/cluster/placement.js";
import { digest, report } from "../packages/daemon/src/testing/cluster-kit.js";
import { startPgCluster } from "../packages/daemon/src/testing/pg-cluster.js";
import { atMost, percentile, printSection, type Section } from "./stats.js";

/** A deterministic pseudo-random sequence, so every run places the same workload. */
function rng(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

/** Round trips of `SELECT 1` on one connection: what this machine's load allows any query, same run. */
async function roundTrips(url: string, n: number): Promise<number[]> {
  const db = await openClusterDb({ url, schema: "bench_rtt" });
  try {
    const ms: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await db.pool.query("SELECT 1");
      ms.push(performance.now() - t0);
    }
    return ms;
  } finally {
    await db.close();
  }
}

/** Sandboxes already placed: `count` placement rows spread over the nodes and 10 projects, allocations to match. */
async function seedSandboxes(db: ClusterDb, nodes: number, count: number): Promise<void> {
  await db.pool.query(
    `INSERT INTO placements (sandbox_id, node, project, cpu_millis, memory_mb, name)
     SELECT 'seed-' || i, 'n' || (i % $1), 'p' || (i % 10), 250, 128, CASE WHEN i % 2 = 0 THEN 'box-' || i END
     FROM generate_series(0, $2 - 1) AS i`,
    [nodes, count],
  );
  await db.pool.query(
    `UPDATE nodes SET alloc_cpu_millis = s.c, alloc_memory_mb = s.m, alloc_sandboxes = s.n
     FROM (SELECT node, sum(cpu_millis)::int AS c, sum(memory_mb)::int AS m, count(*)::int AS n
           FROM placements GROUP BY node) s WHERE nodes.name = s.node`,
  );
  await db.pool.query("ANALYZE");
}

/** The same-run floor for any decision: one indexed lookup (a node by its primary key) on the same tables. */
async function indexedSelects(db: ClusterDb, nodes: number, n: number): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await db.pool.query("SELECT * FROM nodes WHERE name = $1", [`n${(i * 7919) % nodes}`]);
    ms.push(performance.now() - t0);
  }
  return ms;
}

async function run(
  url: string,
  nodes: number,
  sandboxes: number,
  decisions: number,
): Promise<{ place: number[]; indexed: number[]; inDb: number[]; indexedInDb: number[] }> {
  const db = await openClusterDb({ url, schema: `bench_${nodes}` });
  try {
    const rand = rng(42);
    const reg = new NodeRegistry(db.pool, { leaseSecs: 3600 });
    for (let i = 0; i < nodes; i++) {
      const { token } = await reg.add(`n${i}`, { zone: ["a", "b", "c"][i % 3]! });
      const layers = Array.from({ length: 5 }, () => digest(Math.floor(rand() * 50)));
      await reg.register(
        token,
        report(8 + Math.floor(rand() * 56), 16384 + Math.floor(rand() * 245760), [...new Set(layers)]),
      );
    }
    await seedSandboxes(db, nodes, sandboxes);
    const placer = new Placer(db.pool, { k: 8 });
    // Quotas on every project, high enough never to refuse: each decision checks (and moves) the project's usage.
    for (let p = 0; p < 10; p++)
      await placer.setQuota(`p${p}`, { maxSandboxes: 1_000_000, maxCpus: 1_000_000, maxMemoryMb: 1_000_000_000 });
    const indexed = await indexedSelects(db, nodes, decisions);
    const ms: number[] = [];
    for (let i = 0; i < decisions; i++) {
      const r: PlacementRequest = {
        sandboxId: `sb-${i}`,
        project: `p${i % 10}`,
        cpus: 1 + Math.floor(rand() * 4) / 2,
        memoryMb: 512 * (1 + Math.floor(rand() * 4)),
        layers: Array.from({ length: 3 }, () => digest(Math.floor(rand() * 50))),
        selector: i % 4 === 0 ? { zone: "b" } : {},
      };
      const t0 = performance.now();
      await placer.place(r);
      ms.push(performance.now() - t0);
      // Steady state: a sandbox of an earlier decision ends (not timed), so small fleets never fill up.
      if (i >= 4) await placer.release(`sb-${i - 4}`);
    }
    // The same decisions timed inside PostgreSQL (EXPLAIN ANALYZE's execution time): what the
    // database spends, without the client's and server's waits for a CPU on a loaded host.
    const inDb: number[] = [];
    const indexedInDb: number[] = [];
    const executionMs = async (sql: string, params: unknown[]): Promise<number> => {
      const { rows } = await db.pool.query<{ "QUERY PLAN": Array<{ "Execution Time": number }> }>(
        `EXPLAIN (ANALYZE, FORMAT JSON) ${sql}`,
        params,
      );
      return rows[0]!["QUERY PLAN"][0]!["Execution Time"];
    };
    for (let i = 0; i < decisions; i++) {
      const id = `sbx-${i}`;
      inDb.push(
        await executionMs("SELECT * FROM sbx_place($1, $2, NULL, $3, $4, $5, $6, 8)", [
          id,
          `p${i % 10}`,
          1000 + 500 * Math.floor(rand() * 4),
          512 * (1 + Math.floor(rand() * 4)),
          Array.from({ length: 3 }, () => digest(Math.floor(rand() * 50))),
          i % 4 === 0 ? '{"zone":"b"}' : "{}",
        ]),
      );
      indexedInDb.push(await executionMs("SELECT * FROM nodes WHERE name = $1", [`n${(i * 7919) % nodes}`]));
      await placer.release(id);
    }
    return { place: ms, indexed, inDb, indexedInDb };
  } finally {
    await db.close();
  }
}

export async function placementSection(decisions = 1000, sandboxes = 10_000): Promise<Section> {
  const cluster = await startPgCluster();
  try {
    const small = await run(cluster.url, 10, 10, decisions);
    const big = await run(cluster.url, 1000, sandboxes, decisions);
    const rtt = await roundTrips(cluster.url, decisions);
    const p99 = percentile(big.place, 99);
    const fleet = `1,000 nodes, ${sandboxes.toLocaleString("en")} sandboxes`;
    return {
      title: "Placement in PostgreSQL (simulated nodes)",
      rows: [
        {
          what: `placement decision p50, ${fleet}`,
          sbx: percentile(big.place, 50),
          baseline: percentile(big.indexed, 50),
          baselineName: "indexed SELECT",
          n: big.place.length,
        },
        {
          what: `placement decision p99, ${fleet}`,
          sbx: p99,
          baseline: percentile(big.indexed, 99),
          baselineName: "indexed SELECT",
          n: big.place.length,
          target: "≤ 5 ms",
          pass: atMost(p99, 5),
        },
        {
          what: `in-database execution p99, ${fleet}`,
          sbx: percentile(big.inDb, 99),
          baseline: percentile(big.indexedInDb, 99),
          baselineName: "indexed SELECT",
          n: big.inDb.length,
          target: "≤ 5 ms",
          pass: atMost(percentile(big.inDb, 99), 5),
        },
        {
          what: "placement decision p99, 10 nodes",
          sbx: percentile(small.place, 99),
          baseline: percentile(small.indexed, 99),
          baselineName: "indexed SELECT",
          n: small.place.length,
        },
      ],
      notes: [
        `same run, one PostgreSQL round trip (SELECT 1): p50 ${percentile(rtt, 50).toFixed(2)} ms, p99 ${percentile(rtt, 99).toFixed(2)} ms; a decision is one round trip (one call of the sbx_place function)`,
        "nodes are rows (capacity, labels, cached layers) and sandboxes placement rows, not daemons; one placer, sequential decisions, PostgreSQL on loopback",
        `in-database execution (EXPLAIN ANALYZE) p50: ${percentile(big.inDb, 50).toFixed(2)} ms, indexed SELECT ${percentile(big.indexedInDb, 50).toFixed(3)} ms`,
      ],
    };
  } finally {
    await cluster.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  placementSection(Number(process.env.BENCH_N ?? 1000), Number(process.env.BENCH_SANDBOXES ?? 10_000))
    .then(printSection)
    .catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
}
