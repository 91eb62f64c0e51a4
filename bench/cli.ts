// CLI start-up: `sbx version`, `sbx ls -q` and `sbx exec <id> -- true` as fresh processes, started
// as users start them (bin/sbx.js run as a program: its sh lines, then node on the bundled CLI of
// `npm run build`), each next to its same-run floor: `node -e 0` plus the same daemon call made
// from a warm SDK client. Target (DESIGN.md §6): p50 ≤ 2× that floor. Both inherit this process's
// environment, NODE_EXTRA_CA_CERTS included, which node parses at start and the launcher defers:
// the notes say whether it was set.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Sandbox, type SandboxClient } from "@sbx-sh/sdk";
import { REPO } from "../test/harness.js";
import { atMost, percentile, type Row, type Section, timeIt } from "./stats.js";

const SBX = join(REPO, "packages", "cli", "bin", "sbx.js");

/** Whether this run's processes had NODE_EXTRA_CA_CERTS: it moves `node -e 0` (and a CLI started as `node bin/sbx.js`). */
function extraCaNote(file: string | undefined, nodeWithoutP50: number | undefined): string {
  if (!file || nodeWithoutP50 === undefined) return "NODE_EXTRA_CA_CERTS is not set in this run.";
  let count = "unreadable";
  try {
    count = `${readFileSync(file, "utf8").split("BEGIN CERTIFICATE").length - 1} certificates`;
  } catch {
    // said as unreadable
  }
  return `NODE_EXTRA_CA_CERTS is set in this run (${file}, ${count}): \`node -e 0\` parses it at start (without it: p50 ${nodeWithoutP50.toFixed(1)} ms); the sbx launcher keeps it from node's start and the CLI reads it only for a TLS connection (none here: a unix socket).`;
}

export async function cliSection(client: SandboxClient, host: string, n: number): Promise<Section> {
  const env: NodeJS.ProcessEnv = { ...process.env, SBX_HOST: host };
  delete env.SBX_FROM_SOURCE;
  const spawnTime = (cmd: string, args: string[], withEnv = env): number => {
    const t0 = performance.now();
    const r = spawnSync(cmd, args, { env: withEnv, encoding: "utf8" });
    const ms = performance.now() - t0;
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}): ${r.stderr}`);
    return ms;
  };
  const sb = await Sandbox.create({ allowInternetAccess: false }, client);
  try {
    const node: number[] = [];
    const calls: Record<string, { cli: number[]; call: number[] }> = {
      version: { cli: [], call: [] },
      "ls -q": { cli: [], call: [] },
      "exec -- true": { cli: [], call: [] },
    };
    const argv: Record<string, string[]> = {
      version: ["version"],
      "ls -q": ["ls", "-q"],
      "exec -- true": ["exec", sb.id, "--", "true"],
    };
    const sdkCall: Record<string, () => Promise<unknown>> = {
      version: () => client.info(),
      "ls -q": () => client.list(),
      "exec -- true": () => sb.run("true"),
    };
    // Back-to-back per kind, as a user or script runs them.
    for (let i = 0; i < n; i++) node.push(spawnTime(process.execPath, ["-e", "0"]));
    // The same floor without the variable, for the note: what node's start costs where it is not set.
    const { NODE_EXTRA_CA_CERTS: extraCa, ...envWithout } = env;
    const nodeWithout: number[] = [];
    if (extraCa) for (let i = 0; i < n; i++) nodeWithout.push(spawnTime(process.execPath, ["-e", "0"], envWithout));
    for (const [what, c] of Object.entries(calls)) {
      for (let i = 0; i < n; i++) c.call.push(await timeIt(sdkCall[what]!));
      for (let i = 0; i < n; i++) c.cli.push(spawnTime(SBX, argv[what]!));
    }
    const nodeP50 = percentile(node, 50);
    const rows: Row[] = Object.entries(calls).map(([what, c]) => {
      const floor = nodeP50 + percentile(c.call, 50);
      const ours = percentile(c.cli, 50);
      return {
        what: `sbx ${what} as a fresh process, p50`,
        sbx: ours,
        baseline: floor,
        baselineName: "node -e 0 + the SDK call",
        n,
        target: "≤ 2×",
        pass: atMost(ours / floor, 2),
      };
    });
    return {
      title: "CLI as a fresh process",
      rows,
      notes: [
        `node -e 0 p50 ${nodeP50.toFixed(1)} ms; the CLI runs as users run it, bin/sbx.js as a program (sh, then node) → dist/bundle/main.cjs with a V8 code cache (written by the first run), and registers only the command group that runs.`,
        extraCaNote(extraCa, nodeWithout.length ? percentile(nodeWithout, 50) : undefined),
      ],
    };
  } finally {
    await sb.terminate().catch(() => undefined);
  }
}
