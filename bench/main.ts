// `npm run bench`: sbx next to raw crun on the same rootfs, measured in the same run, as ratios.
// Time to interactive (create → first `true` done) and exec latency, over N runs each. Creates
// are served from the daemon's warm pool (2 blanks by default); named sandboxes show the cold path.
import { join } from "node:path";
import { Sandbox, SandboxClient } from "../src/sdk/index.js";
import { existsSync } from "node:fs";
import { REPO, TestDaemon } from "../test/harness.js";
import { imageRows } from "./images.js";
import { networkRows } from "./network.js";
import { snapshotRows } from "./snapshots.js";
import { RawCrun } from "./raw-crun.js";
import { percentile, printTable, timeIt, type Row } from "./stats.js";

const N = Number(process.env.BENCH_N ?? 50);

async function main(): Promise<void> {
  const daemon = new TestDaemon({ name: "bench", netIndex: 5 });
  await daemon.reset();
  await daemon.start();
  const client = new SandboxClient({ host: daemon.host });
  try {
    const warm = await Sandbox.create({ allowInternetAccess: false }, client);
    const lowerdir = join(daemon.root, "data", "layers", (await warm.info()).imageId.replace("sha256:", ""), "rootfs");
    const raw = new RawCrun(join(daemon.root, "raw"), lowerdir);

    // Interleaved so both sides share the machine's noise.
    const tti: number[] = [];
    const ttiNoNet: number[] = [];
    const cold: number[] = [];
    const rawLife: number[] = [];
    for (let i = 0; i < N; i++) {
      let sb: Sandbox | undefined;
      tti.push(await timeIt(async () => {
        sb = await Sandbox.create({}, client);
        await sb.run("true");
      }));
      await sb!.terminate();
      ttiNoNet.push(await timeIt(async () => {
        sb = await Sandbox.create({ allowInternetAccess: false }, client);
        await sb.run("true");
      }));
      await sb!.terminate();
      // A named sandbox never comes from the warm pool: this is the cold path, mounts and all.
      cold.push(await timeIt(async () => {
        sb = await Sandbox.create({ name: `bench-cold-${i}` }, client);
        await sb.run("true");
      }));
      await sb!.terminate();
      rawLife.push(await timeIt(() => raw.lifecycle(["/bin/true"])));
    }

    // A burst: 50 creates at once, each timed from the burst's start to its sandbox running.
    const burstStart = performance.now();
    const burst = await Promise.allSettled(
      Array.from({ length: 50 }, async () => {
        const sb = await Sandbox.create({ allowInternetAccess: false }, client);
        return { sb, ms: performance.now() - burstStart };
      }),
    );
    const burstOk = burst.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
    const burstMs = burstOk.map((r) => r.ms);
    await Promise.all(burstOk.map((r) => r.sb.terminate()));
    const rawBurstStart = performance.now();
    const rawBurst = await Promise.all(Array.from({ length: 50 }, async () => {
      await raw.lifecycle(["/bin/true"]);
      return performance.now() - rawBurstStart;
    }));

    const keeper = await raw.startKeeper();
    const execSbx: number[] = [];
    const execRaw: number[] = [];
    for (let i = 0; i < N * 2; i++) {
      execSbx.push(await timeIt(() => warm.run("true")));
      execRaw.push(await timeIt(() => raw.exec(keeper, ["/bin/true"])));
    }
    raw.stopKeeper(keeper);
    await warm.terminate();
    const images = await imageRows(client, daemon.host, raw, Math.min(N, 20));
    const snapshots = await snapshotRows(client, raw, N);
    const network = await networkRows(client, N);

    const rows: Row[] = [
      { what: "create → first `true` done, p50 (network on)", sbx: percentile(tti, 50), baseline: percentile(rawLife, 50), baselineName: "mount+crun run+umount", target: "≤ 60 ms" },
      { what: "create → first `true` done, p99 (network on)", sbx: percentile(tti, 99), baseline: percentile(rawLife, 99), baselineName: "mount+crun run+umount", target: "≤ 150 ms" },
      { what: "create → first `true` done, p50 (no network)", sbx: percentile(ttiNoNet, 50), baseline: percentile(rawLife, 50), baselineName: "mount+crun run+umount" },
      { what: "create → first `true` done, p99 (no network)", sbx: percentile(ttiNoNet, 99), baseline: percentile(rawLife, 99), baselineName: "mount+crun run+umount" },
      { what: "cold create (no warm pool) → first `true`, p50", sbx: percentile(cold, 50), baseline: percentile(rawLife, 50), baselineName: "mount+crun run+umount" },
      { what: "cold create (no warm pool) → first `true`, p99", sbx: percentile(cold, 99), baseline: percentile(rawLife, 99), baselineName: "mount+crun run+umount" },
      { what: `50 concurrent creates (${burstOk.length}/50 ok), p99`, sbx: percentile(burstMs, 99), baseline: percentile(rawBurst, 99), baselineName: "50 raw lifecycles at once", target: "all ok, ≤ 2000 ms" },
      { what: "exec `true` in a running sandbox, p50", sbx: percentile(execSbx, 50), baseline: percentile(execRaw, 50), baselineName: "crun exec", target: "≤ 20 ms" },
      { what: "exec `true` in a running sandbox, p99", sbx: percentile(execSbx, 99), baseline: percentile(execRaw, 99), baselineName: "crun exec" },
    ];
    printTable(`sbx benchmark: ${N} sandboxes, ${N * 2} execs, ${new Date().toISOString()}`, rows);
    printTable(`images (CLI from ${existsSync(join(REPO, "dist")) ? "dist/" : "TypeScript sources via tsx"})`, images);
    printTable("snapshots", snapshots);
    printTable("network (create with vs without network: the first rows above)", network);
  } finally {
    for (const s of await client.list().catch(() => [])) await client.terminate(s.id).catch(() => undefined);
    await daemon.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
