// `sbx doctor`: checks that this host can run sandboxes and prints the fix for each problem.
import { spawn } from "node:child_process";
import type { Command } from "commander";
import { SbxError } from "@sbx-sh/protocol";
import { dataDir } from "../config.js";
import { sbxdCommand } from "../locate-daemon.js";
import { globalsOf } from "../context.js";
import { CliExit, mark, printJson, printLines } from "../output.js";

export function registerDoctorCommand(program: Command): void {
  const doctor = program.command("doctor").description("check that this host can run sandboxes");
  doctor
    .option("--data-dir <dir>", "data dir whose disk to check (env SBX_DATA_DIR; default /var/lib/sbx)")
    .addHelpText(
      "after",
      `
Exits 1 when a check fails. It looks at the host, not at a running daemon (the checks are
sbxd's own: \`sbxd doctor --json\` runs them without the CLI). Its "layer compressor" line
says which gzip a daemon started with this environment gives OCI exports (sbx-deflate or zlib).

Examples:
  $ sbx doctor
  $ sbx doctor --json | jq '.[] | select(.ok | not)'`,
    )
    .action(async (o: { dataDir?: string }, cmd: Command) => {
      const g = globalsOf(cmd);
      const checks = await hostChecks(o.dataDir ?? dataDir());
      if (g.json) printJson(checks);
      else {
        const lines: string[] = [];
        for (const c of checks) {
          lines.push(`${mark(c.ok, c.warning)} ${c.name}: ${c.detail}`);
          if (!c.ok && c.fix) lines.push(`    fix: ${c.fix}`);
        }
        const failed = checks.filter((c) => !c.ok).length;
        const warned = checks.filter((c) => c.ok && c.warning).length;
        const warnings = warned ? ` (${warned} optional feature${warned > 1 ? "s" : ""} missing, marked !)` : "";
        lines.push(
          "",
          (failed ? `${failed} of ${checks.length} checks failed` : `all ${checks.length} checks passed`) + warnings,
        );
        printLines(lines);
      }
      if (checks.some((c) => !c.ok)) throw new CliExit(1);
    });
}

interface DoctorCheck {
  name: string;
  ok: boolean;
  warning?: boolean;
  detail: string;
  fix?: string;
}

/** Runs `sbxd doctor --json`: the daemon package owns what "this host can run sandboxes" means. */
async function hostChecks(dataDir: string | undefined): Promise<DoctorCheck[]> {
  const [cmd, ...pre] = sbxdCommand();
  const args = [...pre, "doctor", "--json", ...(dataDir ? ["--data-dir", dataDir] : [])];
  const { code, out, err } = await new Promise<{ code: number | null; out: string; err: string }>((done, fail) => {
    const child = spawn(cmd!, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (b: Buffer) => (out += b.toString()));
    child.stderr.on("data", (b: Buffer) => (err += b.toString()));
    child.on("error", fail);
    child.on("close", (code) => done({ code, out, err }));
  });
  try {
    const checks = JSON.parse(out) as unknown;
    if (Array.isArray(checks)) return checks as DoctorCheck[];
  } catch {
    // reported below
  }
  throw new SbxError("internal", `sbxd doctor exited with code ${code} without a report: ${err.trim() || out.trim()}`);
}
