// Density: how much memory an idle sandbox costs and, extrapolated from that, how many fit on a
// 24 GiB host. N idle sandboxes are started (network on, as a user gets them) and held. Host-wide
// MemAvailable is what matters, but on a shared machine other work moves it by hundreds of MiB,
// so the judged figure is the memory we can attribute: the sandboxes' cgroups, the kernel's
// unreclaimable memory (namespaces, veths, mounts: slab, stacks, page tables, per-cpu, vmalloc, shmem)
// and the daemon's own growth. The baseline is N idle raw crun containers (same OCI config,
// catatonit as PID 1, no network), measured the same way.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import pLimit from "p-limit";
import { Sandbox, type SandboxClient } from "@sbx-sh/sdk";
import type { RawCrun } from "./raw-crun.js";
import { atMost, mean, timeIt, type Section } from "./stats.js";

const MiB = 1024 * 1024;
const GIB24_MIB = 24 * 1024;
const KERNEL = ["SUnreclaim", "KernelStack", "PageTables", "Percpu", "VmallocUsed", "Shmem"];

function meminfoMiB(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of readFileSync("/proc/meminfo", "utf8").matchAll(/^(\w+):\s+(\d+) kB$/gm))
    out[m[1]!] = Number(m[2]) / 1024;
  return out;
}

function rssMiB(pid: number | undefined): number {
  const m = pid === undefined ? null : /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : 0;
}

/** A cgroup's memory use: memory.current on cgroup v2, memory.usage_in_bytes on v1's memory controller. */
export function cgroupMiB(path: string): number {
  const v1 = existsSync("/sys/fs/cgroup/memory/memory.usage_in_bytes");
  const f = v1
    ? join("/sys/fs/cgroup/memory", path, "memory.usage_in_bytes")
    : join("/sys/fs/cgroup", path, "memory.current");
  return existsSync(f) ? Number(readFileSync(f, "utf8")) / MiB : NaN;
}

interface Reading {
  available: number;
  kernel: number;
  daemonRss: number;
}

/** Means of 5 reads 0.4 s apart, once what just happened has settled. */
async function reading(daemonPid: number | undefined): Promise<Reading> {
  const rs: Reading[] = [];
  for (let i = 0; i < 5; i++) {
    await new Promise((r) => setTimeout(r, 400));
    const m = meminfoMiB();
    rs.push({
      available: m.MemAvailable ?? NaN,
      kernel: KERNEL.reduce((a, k) => a + (m[k] ?? 0), 0),
      daemonRss: rssMiB(daemonPid),
    });
  }
  return {
    available: mean(rs.map((r) => r.available)),
    kernel: mean(rs.map((r) => r.kernel)),
    daemonRss: mean(rs.map((r) => r.daemonRss)),
  };
}

export async function densitySection(
  client: SandboxClient,
  raw: RawCrun,
  daemonPid: number | undefined,
  count: number,
): Promise<Section> {
  const limit = pLimit(4);
  const before = await reading(daemonPid);
  const sandboxes: Sandbox[] = [];
  let failed = 0;
  const startMs = await timeIt(() =>
    Promise.all(
      Array.from({ length: count }, () =>
        limit(async () => {
          try {
            sandboxes.push(await Sandbox.create({ timeoutSecs: 0 }, client));
          } catch {
            failed++;
          }
        }),
      ),
    ),
  );
  const up = sandboxes.length;
  const after = await reading(daemonPid);
  const cg = sandboxes.map((s) => cgroupMiB(`/sbx/${s.id}`));
  await Promise.all(sandboxes.map((s) => limit(() => s.terminate())));
  const down = await reading(daemonPid);

  const rawBefore = await reading(undefined);
  const keepers: string[] = [];
  for (let i = 0; i < count; i++) keepers.push(await raw.startKeeper());
  const rawAfter = await reading(undefined);
  const rawCg = keepers.map((k) => cgroupMiB(raw.cgroupPath(k)));
  for (const k of keepers) raw.stopKeeper(k);

  const per = (x: number, n: number): number => x / Math.max(1, n);
  const sum = (xs: number[]): number => xs.filter((x) => !Number.isNaN(x)).reduce((a, b) => a + b, 0);
  const accounted = per(sum(cg) + (after.kernel - before.kernel) + (after.daemonRss - before.daemonRss), up);
  const rawAccounted = per(sum(rawCg) + (rawAfter.kernel - rawBefore.kernel), keepers.length);
  const fit = (mib: number): number => (mib > 0 ? GIB24_MIB / mib : NaN);
  return {
    title: "Idle sandboxes: memory and density",
    rows: [
      {
        what: `idle sandboxes started (${failed} failed), in ${(startMs / 1000).toFixed(1)} s`,
        sbx: up,
        baseline: keepers.length,
        baselineName: "raw crun idle containers",
        n: count,
        unit: "count",
        target: `all ${count} up`,
        pass: up === count,
      },
      {
        what: "memory per idle sandbox, accounted (cgroup + kernel unreclaimable + daemon growth) ÷ N",
        sbx: accounted,
        baseline: rawAccounted,
        baselineName: "raw crun idle container (cgroup + kernel)",
        n: up,
        unit: "MiB",
        target: "≤ 5 MiB",
        pass: accounted > 0 ? atMost(accounted, 5) : undefined,
      },
      {
        what: "… of which the sandbox's cgroup (v2 memory.current / v1 usage_in_bytes), mean",
        sbx: mean(cg),
        baseline: mean(rawCg),
        baselineName: "raw crun idle container",
        n: cg.filter((x) => !Number.isNaN(x)).length,
        unit: "MiB",
      },
      {
        what: "… of which kernel unreclaimable memory (Δ SUnreclaim+KernelStack+PageTables+Percpu+VmallocUsed+Shmem) ÷ N",
        sbx: per(after.kernel - before.kernel, up),
        baseline: per(rawAfter.kernel - rawBefore.kernel, keepers.length),
        baselineName: "raw crun idle container",
        n: up,
        unit: "MiB",
      },
      {
        what: "… of which the daemon's RSS growth ÷ N",
        sbx: per(after.daemonRss - before.daemonRss, up),
        n: up,
        unit: "MiB",
      },
      {
        what: "cross-check: host MemAvailable drop while starting ÷ N",
        sbx: per(before.available - after.available, up),
        baseline: per(rawBefore.available - rawAfter.available, keepers.length),
        baselineName: "raw crun idle container",
        n: up,
        unit: "MiB",
      },
      {
        what: "cross-check: host MemAvailable regained at teardown ÷ N",
        sbx: per(down.available - after.available, up),
        n: up,
        unit: "MiB",
      },
      {
        what: "idle sandboxes that fit in 24 GiB (**extrapolated**: 24 GiB ÷ accounted memory per sandbox)",
        sbx: fit(accounted),
        baseline: fit(rawAccounted),
        baselineName: "raw crun, same extrapolation",
        n: up,
        unit: "count",
        target: "≥ 500",
        pass: Number.isNaN(fit(accounted)) ? undefined : fit(accounted) >= 500,
      },
    ],
    notes: [
      `MemAvailable: ${before.available.toFixed(0)} MiB before, ${after.available.toFixed(0)} MiB with ${up} sandboxes up, ${down.available.toFixed(0)} MiB after they were terminated; kernel unreclaimable ${before.kernel.toFixed(0)} → ${after.kernel.toFixed(0)} → ${down.kernel.toFixed(0)} MiB; daemon RSS ${before.daemonRss.toFixed(0)} → ${after.daemonRss.toFixed(0)} MiB. Each is the mean of 5 reads 0.4 s apart.`,
      "The MemAvailable rows are host-wide: they include everything a sandbox costs the host, but also whatever else the machine did meanwhile, so on a shared machine they are noise (they can come out negative). The kernel counters are host-wide too, only far less noisy. The judged figure is the accounted one; on a quiet machine the two should agree.",
      `The 24 GiB figure is an extrapolation from ${up} sandboxes, not a measurement of that many. Creates ran 4 at a time with network on; the cgroup figure counts the sandbox's processes, its tmpfs-backed writable layer and the kernel memory charged to it (on cgroup v1 only where kmem accounting is on). Reclaimable kernel caches (SReclaimable: dentries, inodes) are left out of the accounted figure, so it is a lower bound of what the host gives up.`,
    ],
  };
}
