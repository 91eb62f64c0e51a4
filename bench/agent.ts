// The agent section (BENCH_ONLY=agent): measured the way agents use sbx, back to back with no pause,
// on the bench daemon (sbx-agent in every sandbox) and on a second daemon with SBX_AGENT=off (the
// previous exec path: catatonit as PID 1, a host `sh` supervisor around `crun exec` per process),
// next to raw crun in the same run: exec `true` in a running sandbox against `crun exec`, and a
// create → run `true` → terminate loop against back-to-back raw `crun run` lifecycles.
import { Sandbox, type SandboxClient } from "@sbx-sh/sdk";
import { agentIoRows } from "./agent-io.js";
import type { RawCrun } from "./raw-crun.js";
import { atMost, percentile, timeIt, type Row, type Section } from "./stats.js";

interface Loop {
  /** create → first `true` done */
  ready: number[];
  /** the whole iteration: create → `true` → terminate */
  whole: number[];
  terminate: number[];
}

/** `per` create → run `true` → terminate iterations, one right after the other, into `loop`. */
async function backToBack(client: SandboxClient, per: number, loop: Loop): Promise<void> {
  for (let i = 0; i < per; i++) {
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
}

const newLoop = (): Loop => ({ ready: [], whole: [], terminate: [] });
const ROUNDS = 4;

export async function agentSection(
  agent: SandboxClient,
  legacy: SandboxClient | undefined,
  raw: RawCrun,
  n: number,
): Promise<Section> {
  // Each system runs in blocks of back-to-back iterations; the blocks alternate (ABC, CBA, ...) so
  // that the machine's load, which drifts on a shared host, weighs on all of them alike.
  const per = Math.max(1, Math.ceil(n / ROUNDS));
  const keeper = await raw.startKeeper();
  const execBox = await Sandbox.create({ allowInternetAccess: false }, agent);
  const execBoxLegacy = legacy ? await Sandbox.create({ allowInternetAccess: false }, legacy) : undefined;
  const rawExec: number[] = [];
  const rawLife: number[] = [];
  const execAgent: number[] = [];
  const execLegacy: number[] = [];
  const loopAgent = newLoop();
  const loopLegacy = newLoop();
  const blocks: Record<string, () => Promise<void>> = {
    raw: async () => {
      for (let i = 0; i < per * 2; i++) rawExec.push(await timeIt(() => raw.exec(keeper, ["/bin/true"])));
      for (let i = 0; i < per; i++) rawLife.push(await timeIt(() => raw.lifecycle(["/bin/true"])));
    },
    agent: async () => {
      for (let i = 0; i < per * 2; i++) execAgent.push(await timeIt(() => execBox.run("true")));
      await backToBack(agent, per, loopAgent);
    },
    legacy: async () => {
      if (!legacy || !execBoxLegacy) return;
      for (let i = 0; i < per * 2; i++) execLegacy.push(await timeIt(() => execBoxLegacy.run("true")));
      await backToBack(legacy, per, loopLegacy);
    },
  };
  try {
    for (let r = 0; r < ROUNDS; r++)
      for (const k of r % 2 ? ["legacy", "agent", "raw"] : ["raw", "agent", "legacy"]) await blocks[k]!();
  } finally {
    raw.stopKeeper(keeper);
    await execBox.terminate();
    await execBoxLegacy?.terminate();
  }

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
  if (legacy)
    rows.push(
      loopRow("before (SBX_AGENT=off)", loopLegacy.ready, 50, "create → first `true` done"),
      loopRow("before", loopLegacy.ready, 99, "create → first `true` done"),
      loopRow("before", loopLegacy.whole, 50, "create → `true` → terminate"),
      loopRow("before", loopLegacy.terminate, 50, "terminate"),
    );
  rows.push(...(await agentIoRows(agent, raw, Math.max(5, Math.ceil(n / 2)))));
  if (legacy) rows.push(...(await agentIoRows(legacy, raw, Math.max(5, Math.ceil(n / 2)), "before (SBX_AGENT=off)")));
  return {
    title: "Agent: exec and back-to-back lifecycles (before/after in the same run)",
    rows,
    notes: [
      `Back to back: each iteration starts as soon as the last ended, in blocks of ${per} (${per * 2} for exec); blocks of the three systems alternate over ${ROUNDS} rounds (ABC CBA ...) so drifting load weighs on all alike. Only the first iteration of a block follows a pause. Both daemons have the default warm pool of 2 blanks.`,
      "`before` is a second daemon of the same build started with SBX_AGENT=off: catatonit as PID 1 and each process under a host `sh` supervisor around `crun exec`, its exit polled from a file. Its terminate is the same fast one (a service change, not the agent's).",
      "Data paths (after the loops, one sandbox, interleaved with their baselines): `run` collects the 1 MiB through the daemon; file write/read go through the agent's file operations (protocol v2) against `crun exec` with the bytes on a pipe; the keystroke is one byte to a terminal running `cat` until its echo comes back over the WebSocket; cold creates are named (never a warm blank) and terminated in the background.",
      "The raw baselines run the same OCI config sbx generates (user namespace, cgroups, seccomp), back to back: `crun exec` into a running container, and mount + `crun run` + umount.",
    ],
  };
}
