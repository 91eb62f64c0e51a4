// Snapshot benchmarks: a snapshot of 100 MB of changes (next to a raw `cp -a` of the same
// data), a restore (next to a cold launch from the base image), and a fork of 10 (next to 10 raw
// crun lifecycles at once).
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Sandbox, type SandboxClient } from "../src/sdk/index.js";
import type { RawCrun } from "./raw-crun.js";
import { percentile, timeIt, type Row } from "./stats.js";

export async function snapshotRows(client: SandboxClient, raw: RawCrun, n: number): Promise<Row[]> {
  const src = await Sandbox.create({ allowInternetAccess: false, memoryMb: 1024 }, client);
  await src.run("sh", { args: ["-c", "mkdir -p /data && head -c 104857600 /dev/urandom > /data/blob"] });
  const scratch = mkdtempSync(join(tmpdir(), "sbx-bench-cp-"));
  execFileSync("sh", ["-c", `head -c 104857600 /dev/urandom > ${scratch}/blob`]);

  const snap: number[] = [];
  const cp: number[] = [];
  const ids: string[] = [];
  for (let i = 0; i < Math.min(n, 10); i++) {
    snap.push(await timeIt(async () => ids.push((await src.snapshot()).id)));
    cp.push(await timeIt(async () => execFileSync("cp", ["-a", scratch, `${scratch}-copy`])));
    rmSync(`${scratch}-copy`, { recursive: true, force: true });
  }
  const restore: number[] = [];
  const base: number[] = [];
  for (let i = 0; i < Math.min(n, 20); i++) {
    let sb: Sandbox | undefined;
    restore.push(await timeIt(async () => {
      sb = await Sandbox.create({ snapshotId: ids[0]!, allowInternetAccess: false }, client);
      await sb.run("true");
    }));
    await sb!.terminate();
    base.push(await timeIt(async () => {
      sb = await Sandbox.create({ name: `bench-restore-base-${i}`, allowInternetAccess: false }, client);
      await sb.run("true");
    }));
    await sb!.terminate();
  }
  let forks: Sandbox[] = [];
  const fork = await timeIt(async () => (forks = await src.copy({ times: 10 })));
  for (const f of forks) await f.terminate();
  const rawTen = await timeIt(() => Promise.all(Array.from({ length: 10 }, () => raw.lifecycle(["/bin/true"]))));
  for (const id of ids) await client.deleteSnapshot(id);
  await src.terminate();
  rmSync(scratch, { recursive: true, force: true });
  return [
    { what: "snapshot of 100 MB of changes, p50", sbx: percentile(snap, 50), baseline: percentile(cp, 50), baselineName: "cp -a of 100 MB", target: "≤ 1000 ms" },
    { what: "restore → first `true`, p50 (cold)", sbx: percentile(restore, 50), baseline: percentile(base, 50), baselineName: "same from debian-minimal", target: "ratio ≈ 1" },
    { what: "fork of 10 (copy -n 10)", sbx: fork, baseline: rawTen, baselineName: "10 raw lifecycles at once", target: "≤ 1500 ms" },
  ];
}
