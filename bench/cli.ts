// CLI start-up: `sbx version`, `sbx ls -q` and `sbx exec <id> -- true` as fresh processes (the
// bundled CLI of `npm run build`), each next to its same-run floor: `node -e 0` plus the same
// daemon call made from a warm SDK client. Target (DESIGN.md §6): p50 ≤ 2× that floor.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { Sandbox, type SandboxClient } from "@sbx-sh/sdk";
import { REPO } from "../test/harness.js";
import { atMost, percentile, type Row, type Section, timeIt } from "./stats.js";

const SBX = join(REPO, "packages", "cli", "bin", "sbx.js");

export async function cliSection(client: SandboxClient, host: string, n: number): Promise<Section> {
  const env: NodeJS.ProcessEnv = { ...process.env, SBX_HOST: host };
  delete env.SBX_FROM_SOURCE;
  const spawnTime = (args: string[]): number => {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, args, { env, encoding: "utf8" });
    const ms = performance.now() - t0;
    if (r.status !== 0) throw new Error(`${args.slice(1).join(" ")} failed (${r.status}): ${r.stderr}`);
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
    for (let i = 0; i < n; i++) node.push(spawnTime(["-e", "0"]));
    for (const [what, c] of Object.entries(calls)) {
      for (let i = 0; i < n; i++) c.call.push(await timeIt(sdkCall[what]!));
      for (let i = 0; i < n; i++) c.cli.push(spawnTime([SBX, ...argv[what]!]));
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
        `node -e 0 p50 ${nodeP50.toFixed(1)} ms; the CLI runs bin/sbx.js → dist/bundle/main.cjs with a V8 code cache (written by the first run) and registers only the command group that runs.`,
      ],
    };
  } finally {
    await sb.terminate().catch(() => undefined);
  }
}
