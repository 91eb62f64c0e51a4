// Density: how much memory an idle sandbox costs and, extrapolated from that, how many fit on a
// 24 GiB host. N idle sandboxes are started (network on, as a user gets them) and held; we read
// the host's MemAvailable before and after, and each sandbox's cgroup memory.current. The
// baseline is N idle raw crun containers (same config, catatonit as PID 1, no network).
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import pLimit from "p-limit";
import { Sandbox, type SandboxClient } from "../src/sdk/index.js";
import type { RawCrun } from "./raw-crun.js";
import { atMost, mean, timeIt, type Section } from "./stats.js";

const MiB = 1024 * 1024;
const GIB24_MIB = 24 * 1024;

function memAvailableMiB(): number {
  return Number(/^MemAvailable:\s*(\d+)/m.exec(readFileSync("/proc/meminfo", "utf8"))![1]) / 1024;
}

/** A cgroup's memory use: memory.current on cgroup v2, memory.usage_in_bytes on v1's memory controller. */
export function cgroupMiB(path: string): number {
  const v1 = existsSync("/sys/fs/cgroup/memory/memory.usage_in_bytes");
  const f = v1 ? join("/sys/fs/cgroup/memory", path, "memory.usage_in_bytes") : join("/sys/fs/cgroup", path, "memory.current");
  return existsSync(f) ? Number(readFileSync(f, "utf8")) / MiB : NaN;
}

/** MemAvailable after the page cache of what just happened settles: the mean of a few reads. */
async function settledMemAvailable(): Promise<number> {
  const reads: number[] = [];
  for (let i = 0; i < 5; i++) {
    await new Promise((r) => setTimeout(r, 400));
    reads.push(memAvailableMiB());
  }
  return mean(reads);
}

export async function densitySection(client: SandboxClient, raw: RawCrun, count: number): Promise<Section> {
  const limit = pLimit(4);
  const before = await settledMemAvailable();
  const sandboxes: Sandbox[] = [];
  let failed = 0;
  const startMs = await timeIt(() =>
    Promise.all(Array.from({ length: count }, () => limit(async () => {
      try {
        sandboxes.push(await Sandbox.create({ timeoutSecs: 0 }, client));
      } catch {
        failed++;
      }
    }))),
  );
  const after = await settledMemAvailable();
  const cg = sandboxes.map((s) => cgroupMiB(`/sbx/${s.id}`));
  const up = sandboxes.length;
  await Promise.all(sandboxes.map((s) => limit(() => s.terminate())));
  const afterTeardown = await settledMemAvailable();

  const rawBefore = await settledMemAvailable();
  const keepers: string[] = [];
  for (let i = 0; i < count; i++) keepers.push(await raw.startKeeper());
  const rawAfter = await settledMemAvailable();
  const rawCg = keepers.map((k) => cgroupMiB(raw.cgroupPath(k)));
  for (const k of keepers) raw.stopKeeper(k);

  const perSandbox = (before - after) / Math.max(1, up);
  const perRaw = (rawBefore - rawAfter) / count;
  const fit = perSandbox > 0 ? GIB24_MIB / perSandbox : NaN;
  const rawFit = perRaw > 0 ? GIB24_MIB / perRaw : NaN;
  return {
    title: "Idle sandboxes: memory and density",
    rows: [
      { what: `idle sandboxes started (${failed} failed), in ${(startMs / 1000).toFixed(1)} s`, sbx: up, baseline: keepers.length, baselineName: "raw crun idle containers", n: count, unit: "count", target: `all ${count} up`, pass: up === count },
      { what: "host memory per idle sandbox (MemAvailable drop ÷ N)", sbx: perSandbox, baseline: perRaw, baselineName: "raw crun idle container", n: up, unit: "MiB", target: "≤ 5 MiB", pass: atMost(perSandbox, 5) },
      { what: "host memory regained per sandbox at teardown (MemAvailable rise ÷ N)", sbx: (afterTeardown - after) / Math.max(1, up), n: up, unit: "MiB" },
      { what: "cgroup memory use per idle sandbox (memory.current, or usage_in_bytes on v1), mean", sbx: mean(cg), baseline: mean(rawCg), baselineName: "raw crun idle container", n: cg.filter((x) => !Number.isNaN(x)).length, unit: "MiB" },
      { what: "idle sandboxes that fit in 24 GiB (**extrapolated**: 24 GiB ÷ host memory per sandbox)", sbx: fit, baseline: rawFit, baselineName: "raw crun, same extrapolation", n: up, unit: "count", target: "≥ 500", pass: Number.isNaN(fit) ? undefined : fit >= 500 },
    ],
    notes: [
      `MemAvailable: ${before.toFixed(0)} MiB before, ${after.toFixed(0)} MiB with ${up} sandboxes up, ${afterTeardown.toFixed(0)} MiB after they were terminated (recovered ${(afterTeardown - after).toFixed(0)} MiB); each read is the mean of 5 reads 0.4 s apart.`,
      "The per-sandbox cost is the host-wide MemAvailable drop divided by N, so it includes everything a sandbox costs the host (kernel objects, veth and nftables state, the daemon's bookkeeping) — and whatever else the machine did meanwhile: on a busy machine it is noisy, and it can even come out negative.",
      `The 24 GiB figure is an extrapolation from ${up} sandboxes, not a measurement of that many; creates ran 4 at a time with network on; the cgroup figure counts the sandbox's processes, its tmpfs-backed writable layer and kernel memory charged to its cgroup.`,
    ],
  };
}
