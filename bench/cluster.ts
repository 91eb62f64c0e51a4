// The cluster section (BENCH_ONLY=cluster): what going through the control plane costs, with real
// daemons and real crun (./cluster-fleet.ts: PostgreSQL, a control plane, three node daemons on
// loopback). Each figure is next to its same-run baseline on the same node directly (its own
// socket): create → first `true` (and on to terminate) back to back, and exec `true` in a sandbox,
// the two paths interleaved so the machine's load falls on both alike, and again back to back in
// alternating blocks of each path (as a user's loop runs; the target holds for both); and creates
// per second at a fixed concurrency with one node ready against three. That last row is a simulation: the three
// nodes share this machine's cores, so it shows the control plane's overhead and spreading, not
// what three machines would give. Runs alone: `npx tsx --conditions=sbx-source bench/cluster.ts`.
import pLimit from "p-limit";
import { Sandbox, type SandboxClient } from "@sbx-sh/sdk";
import { availableParallelism, loadavg } from "node:os";
import { openClusterDb } from "../packages/daemon/src/cluster/cluster-db.js";
import { BenchFleet } from "./cluster-fleet.js";
import { atMost, percentile, printSection, timeIt, type Row, type Section } from "./stats.js";

/** Small enough that four fit one node's capacity (a node offers its CPU count and memory). */
const SPEC = { allowInternetAccess: false, cpus: 0.25, memoryMb: 256 };
const CONCURRENCY = 4;
/**
 * Timed execs per path in each exec row (at least; more when the section's n is larger). A p50 of
 * 40 samples swung ±0.07× run to run on this machine, as wide as the whole margin to the target;
 * execs are cheap (a few ms), so the rows take more samples than the lifecycle rows. Both paths
 * get the same count, in the same order as before: interleaved pairs, and blocks of n/2 alternating.
 */
const EXEC_MIN_N = 200;
/**
 * Untimed exec `true` pairs (one each way, alternating) before the timed exec rows: a control plane
 * serves calls for days, and a young one is still tiering its exec path up (cexec6: TurboFan
 * compiles go on for thousands of calls). Both paths get the same calls, so the node's side warms
 * alike; the row then compares warm code on both sides, as a long-running fleet has it.
 */
const EXEC_WARM_PAIRS = 300;

interface Life {
  /** create → the first `true` done */
  ready: number[];
  /** create → `true` → terminate */
  whole: number[];
}

/** One create → run `true` → terminate into `into`. */
async function lifecycle(client: SandboxClient, into?: Life): Promise<void> {
  const t0 = performance.now();
  const sb = await Sandbox.create(SPEC, client);
  const r = await sb.run("true");
  if (r.exitCode !== 0) throw new Error(`true exited ${r.exitCode}`);
  const t1 = performance.now();
  await sb.terminate();
  into?.ready.push(t1 - t0);
  into?.whole.push(performance.now() - t0);
}

/** `count` create → terminate, `CONCURRENCY` at a time, through `client`: creates per second. */
async function throughput(client: SandboxClient, count: number): Promise<number> {
  const limit = pLimit(CONCURRENCY);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: count }, () =>
      limit(async () => {
        const sb = await Sandbox.create(SPEC, client);
        await sb.terminate();
      }),
    ),
  );
  return count / ((performance.now() - t0) / 1000);
}

/** `n` round trips of `SELECT 1` on one connection. */
async function pgRoundTrips(url: string, n: number): Promise<number[]> {
  const db = await openClusterDb({ url, schema: "bench_rtt" });
  try {
    const ms: number[] = [];
    for (let i = 0; i < n; i++) ms.push(await timeIt(() => db.pool.query("SELECT 1")));
    return ms;
  } finally {
    await db.close();
  }
}

function pair(what: string, via: number[], direct: number[], target?: { text: string; ratio: number }): Row {
  const sbx = percentile(via, what.includes("p99") ? 99 : 50);
  const baseline = percentile(direct, what.includes("p99") ? 99 : 50);
  return {
    what,
    sbx,
    baseline,
    baselineName: "same node directly",
    n: via.length,
    ...(target ? { target: target.text, pass: atMost(sbx / baseline, target.ratio) } : {}),
  };
}

export async function clusterSection(n: number, slot: number | undefined): Promise<Section> {
  const fleet = new BenchFleet(3, slot);
  const load0 = loadavg()[0]!;
  try {
    const t0 = performance.now();
    await fleet.start();
    const startSecs = (performance.now() - t0) / 1000;
    const n1 = fleet.nodes[0]!;
    // Latency rows on n1 alone, so the control plane's path and the direct one reach the same node.
    await fleet.only(["n1"]);
    // One of each first (not timed): the first create on a fresh node waits for its pool's first blanks.
    await lifecycle(fleet.client);
    await lifecycle(n1.local);
    const viaLife: Life = { ready: [], whole: [] };
    const directLife: Life = { ready: [], whole: [] };
    for (let i = 0; i < n; i++) {
      await lifecycle(fleet.client, viaLife);
      await lifecycle(n1.local, directLife);
    }
    // Exec in one running sandbox, created through the control plane, reached both ways.
    const box = await Sandbox.create(SPEC, fleet.client);
    const direct = await Sandbox.connect(box.id, n1.local);
    for (let i = 0; i < EXEC_WARM_PAIRS; i++) {
      await box.run("true");
      await direct.run("true");
    }
    const execN = Math.max(n, EXEC_MIN_N);
    const viaExec: number[] = [];
    const directExec: number[] = [];
    for (let i = 0; i < execN; i++) {
      viaExec.push(await timeIt(() => box.run("true")));
      directExec.push(await timeIt(() => direct.run("true")));
    }
    // The same, back to back as a user of either path runs it: blocks of one path, the blocks
    // alternating (AB BA ...) so drifting load weighs on both alike. Interleaved call by call (above),
    // each path runs on caches the other's call just evicted, which no user's loop does.
    const viaRun: number[] = [];
    const directRun: number[] = [];
    const block = Math.max(5, Math.round(n / 2));
    const rounds = Math.ceil(execN / block);
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? ([box, direct] as const) : ([direct, box] as const);
      for (const sb of order)
        for (let i = 0; i < block; i++) (sb === box ? viaRun : directRun).push(await timeIt(() => sb.run("true")));
    }
    // What one forwarded request costs on its own: a plain GET of the sandbox, and the database
    // round trip the control plane makes to locate it (SELECT 1 from here, same run).
    const viaInfo: number[] = [];
    const directInfo: number[] = [];
    for (let i = 0; i < n; i++) {
      viaInfo.push(await timeIt(() => box.info()));
      directInfo.push(await timeIt(() => direct.info()));
    }
    const rtt = await pgRoundTrips(fleet.pg!.url, n);
    await box.terminate();

    const count = 6 * CONCURRENCY;
    await throughput(fleet.client, CONCURRENCY); // warm-up, not counted
    const one = await throughput(fleet.client, count);
    await fleet.only(fleet.nodes.map((x) => x.name));
    const three = await throughput(fleet.client, count);
    const load1 = loadavg()[0]!;
    return {
      title: "Cluster: control plane vs a node directly (real daemons, one machine)",
      rows: [
        pair("create → first `true` p50, via control plane", viaLife.ready, directLife.ready),
        pair("create → first `true` p99, via control plane", viaLife.ready, directLife.ready),
        pair("create → `true` → terminate p50, via control plane", viaLife.whole, directLife.whole),
        pair("create → `true` → terminate p99, via control plane", viaLife.whole, directLife.whole),
        pair("exec `true` p50, via control plane, back to back", viaRun, directRun, {
          text: "≤ 1.2× direct",
          ratio: 1.2,
        }),
        pair("exec `true` p99, via control plane, back to back", viaRun, directRun),
        pair("interleaved: exec `true` p50, via control plane", viaExec, directExec, {
          text: "≤ 1.2× direct",
          ratio: 1.2,
        }),
        pair("interleaved: exec `true` p99, via control plane", viaExec, directExec),
        pair("sandbox info (GET) p50, via control plane", viaInfo, directInfo),
        {
          what: `creates/s at concurrency ${CONCURRENCY}, 3 nodes (simulated: one machine)`,
          sbx: three,
          baseline: one,
          baselineName: "1 node",
          n: count,
          unit: "per s",
        },
      ],
      notes: [
        `PostgreSQL, one control plane and 3 node daemons (warm pool on, default size) on loopback of one ${availableParallelism()}-core machine; fleet start ${startSecs.toFixed(0)} s`,
        "latency rows: n2 and n3 cordoned, so both paths reach n1; direct = n1's own unix socket (a node's TCP API serves only its control plane, with the node's key); the two paths alternate iteration by iteration, except the back-to-back exec rows",
        `exec rows: after ${EXEC_WARM_PAIRS} untimed warm-up pairs (one exec \`true\` each way, alternating), so both daemons run warm code as a long-running fleet does`,
        `back to back: ${Math.ceil(Math.max(n, EXEC_MIN_N) / Math.max(5, Math.round(n / 2)))} rounds of one block of ${Math.max(5, Math.round(n / 2))} execs per path, the blocks alternating (AB BA ...); each exec starts as soon as the last ended. Both ways are held to the target`,
        `creates/s: ${count} sandboxes (${SPEC.cpus} cpus, ${SPEC.memoryMb} MB, each terminated) through the control plane; 1 node = n2, n3 cordoned; the 3 nodes share the same cores, so this is not 3 machines' throughput`,
        `same run, one PostgreSQL round trip (SELECT 1) from the bench: p50 ${percentile(rtt, 50).toFixed(1)} ms, p99 ${percentile(rtt, 99).toFixed(1)} ms; the control plane makes one to locate a sandbox only when its route cache misses (a warm exec loop: none per call)`,
        `load average (1 min) at start ${load0.toFixed(1)}, at end ${load1.toFixed(1)}`,
      ],
    };
  } finally {
    await fleet.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const slot = process.env.BENCH_SLOT === undefined ? undefined : Number(process.env.BENCH_SLOT);
  clusterSection(Number(process.env.BENCH_N ?? 40), slot)
    .then(printSection)
    .catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
}
