// `sbx doctor`: checks that this host can run sandboxes and prints the fix for each problem.
import type { Command } from "commander";
import { globalsOf } from "../context.js";
import { CliExit, mark, printJson, printLines } from "../output.js";

export function registerDoctorCommand(program: Command): void {
  const doctor = program.command("doctor").description("check that this host can run sandboxes");
  doctor
    .option("--data-dir <dir>", "data dir whose disk to check (env SBX_DATA_DIR; default /var/lib/sbx)")
    .addHelpText(
      "after",
      `
Exits 1 when a check fails. It looks at the host, not at a running daemon.

Examples:
  $ sbx doctor
  $ sbx doctor --json | jq '.[] | select(.ok | not)'`,
    )
    .action(async (o: { dataDir?: string }, cmd: Command) => {
      const g = globalsOf(cmd);
      // Loaded on demand: the host checks are only needed here, and every other command starts faster without them.
      const { runDoctor } = await import("../../runtime/host-checks.js");
      const checks = await runDoctor({ dataDir: o.dataDir ?? process.env.SBX_DATA_DIR });
      if (g.json) printJson(checks);
      else {
        const lines: string[] = [];
        for (const c of checks) {
          lines.push(`${mark(c.ok)} ${c.name}: ${c.detail}`);
          if (!c.ok && c.fix) lines.push(`    fix: ${c.fix}`);
        }
        const failed = checks.filter((c) => !c.ok).length;
        lines.push("", failed ? `${failed} of ${checks.length} checks failed` : `all ${checks.length} checks passed`);
        printLines(lines);
      }
      if (checks.some((c) => !c.ok)) throw new CliExit(1);
    });
}
