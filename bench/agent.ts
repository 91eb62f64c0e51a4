// The agent section (BENCH_ONLY=agent): measured the way agents use sbx, back to back with no pause,
// on the bench daemon (sbx-agent in every sandbox) and on a second daemon with SBX_AGENT=off (the
// previous exec path: catatonit as PID 1, a host `sh` supervisor around `crun exec` per process),
// next to raw crun in the same run: exec `true` in a running sandbox against `crun exec`, and a
// create → run `true` → terminate loop against back-to-back raw `crun run` lifecycles.
import { Sandbox, type SandboxClient } from "@sbx-sh/sdk";
import type { RawCrun } from "./raw-crun.js";
import { atMost, percentile, timeIt, type Row, type Section } from "./stats.js";

interface Loop {
  /** create → first `true` done */
  ready: number[];
  /** the whole iteration: create → `true` → terminate */
  whole: number[];
  terminate: number[];
}

async function backToBack(client: SandboxClient, n: number): Promise<Loop> {
  const loop: Loop = { ready: [], whole: [], terminate: [] };
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const sb = await Sandbox.create({ allowInternetAccess: false }, client);
    await sb.run("true");
    const t1 = performance.now();
    await sb.terminate();
    const t2 = performance.now();
    loop.ready.push(t1 - t0);
    loop.terminate.push(t2 - t1);
    loop.whole.push(t2 - t0);
  }
  return loop;
}

async function execLoop(client: SandboxClient, n: number): Promise<number[]> {
  const sb = await Sandbox.create({ allowInternetAccess: false }, client);
  const xs: number[] = [];
  try {
    for (let i = 0; i < n; i++) xs.push(await timeIt(() => sb.run("true")));
  } finally {
    await sb.terminate();
  }
  return xs;
}

export async function agentSection(
  agent: SandboxClient,
  legacy: SandboxClient | undefined,
  raw: RawCrun,
  n: number,
): Promise<Section> {
  // Raw baselines first, each back to back as well.
  const keeper = await raw.startKeeper();
  const rawExec: number[] = [];
  try {
    for (let i = 0; i < n * 2; i++) rawExec.push(await timeIt(() => raw.exec(keeper, ["/bin/true"])));
  } finally {
    raw.stopKeeper(keeper);
  }
  const rawLife: number[] = [];
  for (let i = 0; i < n; i++) rawLife.push(await timeIt(() => raw.lifecycle(["/bin/true"])));

  const execAgent = await execLoop(agent, n * 2);
  const execLegacy = legacy ? await execLoop(legacy, n * 2) : [];
  const loopAgent = await backToBack(agent, n);
  const loopLegacy = legacy ? await backToBack(legacy, n) : undefined;

  const rows: Row[] = [];
  const execRow = (label: string, xs: number[], q: number, target?: number): Row => ({
    what: `${label}: exec \`true\` in a running sandbox, back to back, p${q}`,
    sbx: percentile(xs, q),
    baseline: percentile(rawExec, q),
    baselineName: "crun exec",
    n: xs.length,
    ...(target === undefined
      ? {}
      : {
          target: `p${q} ≤ ${target}× crun exec`,
          pass: atMost(percentile(xs, q), target * percentile(rawExec, q)),
        }),
  });
  const loopRow = (label: string, xs: number[], q: number, what: string, target?: number): Row => ({
    what: `${label}: ${what}, back to back, p${q}`,
    sbx: percentile(xs, q),
    baseline: percentile(rawLife, q),
    baselineName: "raw crun run lifecycle",
    n: xs.length,
    ...(target === undefined
      ? {}
      : {
          target: `p${q} ≤ ${target}× raw lifecycle`,
          pass: atMost(percentile(xs, q), target * percentile(rawLife, q)),
        }),
  });
  rows.push(execRow("agent", execAgent, 50, 0.5), execRow("agent", execAgent, 99));
  if (legacy) rows.push(execRow("before (SBX_AGENT=off)", execLegacy, 50), execRow("before", execLegacy, 99));
  rows.push(
    loopRow("agent", loopAgent.ready, 50, "create → first `true` done", 1.0),
    loopRow("agent", loopAgent.ready, 99, "create → first `true` done", 1.5),
    loopRow("agent", loopAgent.whole, 50, "create → `true` → terminate"),
    loopRow("agent", loopAgent.terminate, 50, "terminate"),
  );
  if (loopLegacy)
    rows.push(
      loopRow("before (SBX_AGENT=off)", loopLegacy.ready, 50, "create → first `true` done"),
      loopRow("before", loopLegacy.ready, 99, "create → first `true` done"),
      loopRow("before", loopLegacy.whole, 50, "create → `true` → terminate"),
      loopRow("before", loopLegacy.terminate, 50, "terminate"),
    );
  return {
    title: "Agent: exec and back-to-back lifecycles (before/after in the same run)",
    rows,
    notes: [
      "Back to back: each iteration starts as soon as the last ended (no interleaving gives the warm pool time to refill). Both daemons have the default warm pool of 2 blanks.",
      "`before` is a second daemon of the same build started with SBX_AGENT=off: catatonit as PID 1 and each process under a host `sh` supervisor around `crun exec`, its exit polled from a file.",
      "The raw baselines run the same OCI config sbx generates (user namespace, cgroups, seccomp), back to back: `crun exec` into a running container, and mount + `crun run` + umount.",
    ],
  };
}
