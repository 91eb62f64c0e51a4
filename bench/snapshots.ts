// Snapshot benchmarks: a snapshot of 100 MB of changes (next to a raw `cp -a` of the same
// data), a restore (next to a cold launch from the base image), and a fork of 10 (next to 10 raw
// crun lifecycles at once).
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Sandbox, type CreateSandboxOptions, type SandboxClient } from "@sbx-sh/sdk";
import { timeCreateAndRun } from "./create.js";
import type { Podman } from "./podman.js";
import type { RawCrun } from "./raw-crun.js";
import { atMost, percentile, timeIt, type Section } from "./stats.js";

export async function snapshotSection(
  client: SandboxClient,
  raw: RawCrun,
  podman: Podman | undefined,
  n: number,
): Promise<Section> {
  const src = await Sandbox.create({ allowInternetAccess: false, memoryMb: 1024 }, client);
  await src.run("sh", { args: ["-c", "mkdir -p /data && head -c 104857600 /dev/urandom > /data/blob"] });
  const scratch = mkdtempSync(join(tmpdir(), "sbb-bench-cp-"));
  execFileSync("sh", ["-c", `head -c 104857600 /dev/urandom > ${scratch}/blob`]);

  // From the imported base image: podman cannot commit a container started with --rootfs.
  const podKeeper = podman ? (await podman.runImage("sbb-base", true)).trim() : "";
  if (podman)
    await podman.exec(podKeeper, ["sh", "-c", "mkdir -p /data && head -c 104857600 /dev/urandom > /data/blob"]);
  const podSnap: number[] = [];
  const podRestore: number[] = [];
  const podFork: number[] = [];

  const snap: number[] = [];
  const cp: number[] = [];
  const ids: string[] = [];
  for (let i = 0; i < Math.min(n, 10); i++) {
    snap.push(await timeIt(async () => ids.push((await src.snapshot()).id)));
    cp.push(await timeIt(async () => execFileSync("cp", ["-a", scratch, `${scratch}-copy`])));
    rmSync(`${scratch}-copy`, { recursive: true, force: true });
    if (podman) podSnap.push(await timeIt(() => podman.commit(podKeeper)));
  }
  const restore: number[] = [];
  const base: number[] = [];
  const failures: string[] = [];
  const createAndRun = (into: number[], what: string, opts: CreateSandboxOptions): Promise<void> =>
    timeCreateAndRun(client, into, failures, what, opts);
  for (let i = 0; i < Math.min(n, 20); i++) {
    await createAndRun(restore, "a restore", { snapshotId: ids[0]!, allowInternetAccess: false });
    await createAndRun(base, "a cold create", { name: `bench-restore-base-${i}`, allowInternetAccess: false });
    if (podman) podRestore.push(await timeIt(() => podman.runImage("sbb-snap")));
  }
  const fork: number[] = [];
  const rawTen: number[] = [];
  for (let i = 0; i < 3; i++) {
    let forks: Sandbox[] = [];
    fork.push(await timeIt(async () => (forks = await src.copy({ times: 10 }))));
    for (const f of forks) await f.terminate();
    rawTen.push(await timeIt(() => Promise.all(Array.from({ length: 10 }, () => raw.lifecycle(["/bin/true"])))));
    if (podman) {
      let started: string[] = [];
      podFork.push(
        await timeIt(
          async () =>
            (started = await Promise.all(Array.from({ length: 10 }, () => podman.runImage("sbb-snap", true)))),
        ),
      );
      for (const id of started) await podman.stopKeeper(id.trim());
    }
  }
  if (podman) await podman.stopKeeper(podKeeper);
  const pod = (xs: number[]): number | undefined => (xs.length ? percentile(xs, 50) : undefined);
  for (const id of ids) await client.deleteSnapshot(id);
  await src.terminate();
  rmSync(scratch, { recursive: true, force: true });
  return {
    title: "Snapshots, restore, fork",
    rows: [
      {
        what: "snapshot of 100 MB of changes, p50",
        sbx: percentile(snap, 50),
        baseline: percentile(cp, 50),
        baselineName: "cp -a of 100 MB on the host",
        podman: pod(podSnap),
        n: snap.length,
        target: "≤ 1000 ms",
        pass: atMost(percentile(snap, 50), 1000),
      },
      {
        what: "restore → first `true`, p50 (cold)",
        sbx: percentile(restore, 50),
        baseline: percentile(base, 50),
        baselineName: "same from debian-minimal",
        podman: pod(podRestore),
        n: restore.length,
        target: "ratio ≤ 1.2 (project target)",
        pass: atMost(percentile(restore, 50) / percentile(base, 50), 1.2),
      },
      {
        what: "fork of 10 (copy -n 10), p50",
        sbx: percentile(fork, 50),
        baseline: percentile(rawTen, 50),
        baselineName: "10 raw lifecycles at once",
        podman: pod(podFork),
        n: fork.length,
        target: "≤ 1500 ms (project target)",
        pass: atMost(percentile(fork, 50), 1500),
      },
    ],
    notes: [
      ...failures.map((f) => `${f} (left out of the figures and of n)`),
      "podman: `podman commit --pause` of a running container holding the same 100 MB (the snapshot), `podman run --rm` of /bin/true from that image (the restore), and 10 `podman run -d` from it at once (the fork: started, not yet exec'd into).",
      "sbx's fork starts 10 sandboxes each with a copy of the source's files; the raw baseline is 10 crun lifecycles on the base layer at once.",
    ],
  };
}
