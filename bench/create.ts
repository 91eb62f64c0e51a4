// Create and exec: time to interactive (create → first `true` done) on the warm path (served
// from the daemon's pool of blanks), without network, and cold (a named sandbox never comes from
// the pool); a burst of 50 concurrent creates; exec into a running sandbox. Next to raw crun
// (mount + run + umount, and `crun exec`) and `podman run --rm` / `podman exec`, interleaved.
import { Sandbox, type CreateSandboxOptions, type SandboxClient } from "@sbx-sh/sdk";
import type { Podman } from "./podman.js";
import type { RawCrun } from "./raw-crun.js";
import { atMost, percentile, timeInto, timeIt, type Section } from "./stats.js";

const RAW = "mount+crun run+umount";

/** Times a create up to its first finished `true` into `into` (a failure goes to `failures`), then terminates it untimed. */
export async function timeCreateAndRun(
  client: SandboxClient,
  into: number[],
  failures: string[],
  what: string,
  opts: CreateSandboxOptions,
): Promise<void> {
  let sb: Sandbox | undefined;
  await timeInto(into, failures, what, async () => {
    sb = await Sandbox.create(opts, client);
    await sb.run("true");
  });
  await sb?.terminate();
}

export async function createSection(
  client: SandboxClient,
  raw: RawCrun,
  podman: Podman | undefined,
  n: number,
): Promise<Section> {
  const tti: number[] = [];
  const ttiNoNet: number[] = [];
  const cold: number[] = [];
  const rawLife: number[] = [];
  const podLife: number[] = [];
  const failures: string[] = [];
  const createAndRun = (into: number[], what: string, opts: CreateSandboxOptions): Promise<void> =>
    timeCreateAndRun(client, into, failures, what, opts);
  for (let i = 0; i < n; i++) {
    await createAndRun(tti, "a create (network on)", {});
    await createAndRun(ttiNoNet, "a create (no network)", { allowInternetAccess: false });
    await createAndRun(cold, "a cold create", { name: `bench-cold-${i}` });
    rawLife.push(await timeIt(() => raw.lifecycle(["/bin/true"])));
    if (podman) podLife.push(await timeIt(() => podman.lifecycle()));
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
  const rawBurst = await burstOf(() => raw.lifecycle(["/bin/true"]));
  const podBurst = podman ? await burstOf(() => podman.lifecycle()) : [];

  const warm = await Sandbox.create({ allowInternetAccess: false }, client);
  const keeper = await raw.startKeeper();
  const podKeeper = podman ? await podman.startKeeper() : "";
  const execSbx: number[] = [];
  const execRaw: number[] = [];
  const execPod: number[] = [];
  for (let i = 0; i < n * 2; i++) {
    await timeInto(execSbx, failures, "an exec", () => warm.run("true"));
    execRaw.push(await timeIt(() => raw.exec(keeper, ["/bin/true"])));
    if (podman) execPod.push(await timeIt(() => podman.exec(podKeeper)));
  }
  raw.stopKeeper(keeper);
  if (podman) await podman.stopKeeper(podKeeper);
  await warm.terminate();

  const p = (xs: number[], q: number): number | undefined => (xs.length ? percentile(xs, q) : undefined);
  const ttiRow = (what: string, xs: number[], q: number, limit?: number) => ({
    what,
    sbx: percentile(xs, q),
    baseline: percentile(rawLife, q),
    baselineName: RAW,
    podman: p(podLife, q),
    n: xs.length,
    ...(limit === undefined ? {} : { target: `p${q} ≤ ${limit} ms`, pass: atMost(percentile(xs, q), limit) }),
  });
  return {
    title: "Create and exec",
    rows: [
      ttiRow("interleaved: create → first `true` done, p50 (network on)", tti, 50, 60),
      ttiRow("interleaved: create → first `true` done, p99 (network on)", tti, 99, 150),
      ttiRow("interleaved: create → first `true` done, p50 (no network)", ttiNoNet, 50),
      ttiRow("interleaved: create → first `true` done, p99 (no network)", ttiNoNet, 99),
      {
        what: "network setup: create p50 with network − without",
        sbx: percentile(tti, 50) - percentile(ttiNoNet, 50),
        n: tti.length,
        target: "≤ 10 ms",
        pass: atMost(percentile(tti, 50) - percentile(ttiNoNet, 50), 10),
      },
      ttiRow("interleaved: cold create (named, no warm pool) → first `true`, p50", cold, 50),
      ttiRow("interleaved: cold create (named, no warm pool) → first `true`, p99", cold, 99),
      {
        what: `50 concurrent creates (${burstOk.length}/50 ok), p99 to running`,
        sbx: percentile(burstMs, 99),
        baseline: percentile(rawBurst, 99),
        baselineName: `50 raw lifecycles at once`,
        podman: p(podBurst, 99),
        n: 50,
        target: "all ok, p99 ≤ 2000 ms",
        pass: burstOk.length === 50 && atMost(percentile(burstMs, 99), 2000),
      },
      {
        what: "interleaved: exec `true` in a running sandbox, p50",
        sbx: percentile(execSbx, 50),
        baseline: percentile(execRaw, 50),
        baselineName: "crun exec",
        podman: p(execPod, 50),
        n: execSbx.length,
        target: "p50 ≤ 20 ms",
        pass: atMost(percentile(execSbx, 50), 20),
      },
      {
        what: "interleaved: exec `true` in a running sandbox, p99",
        sbx: percentile(execSbx, 99),
        baseline: percentile(execRaw, 99),
        baselineName: "crun exec",
        podman: p(execPod, 99),
        n: execSbx.length,
      },
    ],
    notes: [
      ...failures.map((f) => `${f} (left out of the figures and of n)`),
      "Warm creates are served from the daemon's pool of pre-started blanks, 2 with a network (slot, veth and NAT already wired) and 2 without, refilled in the background; so the network's setup cost (about 20–25 ms of veth and nft work, see the cold rows) is paid off the create path; with one create after another the pool keeps up, so these are the warm path. Named sandboxes never come from the pool: that is the cold path, overlay mount, crun and all.",
      "The raw crun baseline runs the same OCI config sbx generates (user namespace, cgroups, seccomp) without network; podman runs `podman run --rm --network none --rootfs <same layer>:O /bin/true` (no user namespace).",
      "In the burst each sbx create is timed from the burst's start to its sandbox running (no exec); the baselines likewise from the start to each lifecycle's end.",
    ],
  };
}

async function burstOf(fn: () => Promise<unknown>): Promise<number[]> {
  const start = performance.now();
  return Promise.all(
    Array.from({ length: 50 }, async () => {
      await fn();
      return performance.now() - start;
    }),
  );
}
