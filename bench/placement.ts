// Placement decision time with many nodes registered in PostgreSQL (a simulation: the nodes are
// rows with capacity, labels and cached layers, no daemons). Each decision is Placer.place(): the
// whole transaction (quota check, candidate sample, ranking, conditional allocation, placement
// row), timed from the caller. The same-run baseline is the same workload on 10 nodes. A sandbox
// ends after each decision (untimed), so the fleet stays at a steady load and the 10-node baseline
// never fills up. Runs on its own throwaway PostgreSQL (`npx tsx bench/placement.ts`, or
// BENCH_ONLY=placement npm run bench).
import { openClusterDb } from "../packages/daemon/src/cluster/cluster-db.js";
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

async function run(url: string, nodes: number, decisions: number): Promise<number[]> {
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
    const placer = new Placer(db.pool, { k: 8 });
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
    return ms;
  } finally {
    await db.close();
  }
}

export async function placementSection(decisions = 1000): Promise<Section> {
  const cluster = await startPgCluster();
  try {
    const small = await run(cluster.url, 10, decisions);
    const big = await run(cluster.url, 1000, decisions);
    const rtt = await roundTrips(cluster.url, decisions);
    const p99 = percentile(big, 99);
    return {
      title: "Placement in PostgreSQL (simulated nodes)",
      rows: [
        {
          what: "placement decision p50, 1,000 nodes",
          sbx: percentile(big, 50),
          baseline: percentile(small, 50),
          baselineName: "10 nodes",
          n: big.length,
        },
        {
          what: "placement decision p99, 1,000 nodes",
          sbx: p99,
          baseline: percentile(small, 99),
          baselineName: "10 nodes",
          n: big.length,
          target: "≤ 5 ms",
          pass: atMost(p99, 5),
        },
      ],
      notes: [
        `same run, one PostgreSQL round trip (SELECT 1): p50 ${percentile(rtt, 50).toFixed(2)} ms, p99 ${percentile(rtt, 99).toFixed(2)} ms; a decision is 5 round trips (BEGIN, quota, sample, allocate, COMMIT)`,
        "nodes are rows (capacity, labels, cached layers), not daemons; one placer, sequential decisions, PostgreSQL on loopback",
      ],
    };
  } finally {
    await cluster.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  placementSection(Number(process.env.BENCH_N ?? 1000))
    .then(printSection)
    .catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
}
