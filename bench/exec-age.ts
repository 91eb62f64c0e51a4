// Exec cost as a sandbox ages (not part of `npm run bench`; run it alone, under the exclusive lock):
// one sandbox runs `true` N times back to back, and the per-exec p50 of the first and the last
// window is printed, with how often the daemon logged a log prune. A sandbox that has run thousands
// of commands must exec as fast as a new one: retention of old processes' output and records is
// bounded (services/process-retention.ts), not a pass over every past process per start.
//
//   node --conditions=sbx-source --import tsx bench/exec-age.ts [N] [--launcher <sbxd.js>] [--label x]
//
// --launcher runs another build's sbxd (a copy of an older dist/) for a before/after pair.
import { Sandbox, SandboxClient } from "@sbx-sh/sdk";
import { TestDaemon } from "../test/harness.js";
import { percentile } from "./stats.js";

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const N = Number(args.find((a) => /^\d+$/.test(a)) ?? 9000);
/** Execs of the first window; the last is the last LAST execs. */
const WINDOW = 200;
const LAST = 50;
const label = flag("--label") ?? "this build";

async function main(): Promise<void> {
  const daemon = new TestDaemon({ name: "exec-age", netIndex: 7, launcher: flag("--launcher") });
  await daemon.reset({ keepData: true });
  await daemon.start();
  const client = new SandboxClient({ host: daemon.host });
  const sb = await Sandbox.create({ allowInternetAccess: false, timeoutSecs: 3600 }, client);
  const ms: number[] = [];
  const started = performance.now();
  try {
    for (let i = 0; i < N; i++) {
      const t0 = performance.now();
      const r = await sb.run("true");
      ms.push(performance.now() - t0);
      if (r.exitCode !== 0) throw new Error(`exec ${i} exited ${r.exitCode}`);
      // Stops early once execs are as slow as the bug made them (50 in a row): the point is made.
      if (i > WINDOW && percentile(ms.slice(-50), 50) > 500) break;
    }
    const listed = (await sb.listProcesses()).length;
    const prunes = daemon.log.split("\n").filter((l) => l.includes("dropped the oldest")).length;
    const first = percentile(ms.slice(0, WINDOW), 50);
    const last = percentile(ms.slice(-LAST), 50);
    console.log(
      JSON.stringify({
        label,
        execs: ms.length,
        firstWindowP50Ms: +first.toFixed(2),
        lastWindowP50Ms: +last.toFixed(2),
        lastOverFirst: +(last / first).toFixed(2),
        lastWindowP99Ms: +percentile(ms.slice(-LAST), 99).toFixed(2),
        pruneLogLines: prunes,
        processesListed: listed,
        seconds: +((performance.now() - started) / 1000).toFixed(1),
      }),
    );
  } finally {
    await sb.terminate().catch(() => undefined);
    await daemon.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
