// `sbx project quota NAME [--sandboxes N] [--cpus N] [--memory MB]`: a project's limits on a
// cluster, enforced when the control plane places a sandbox. Without limits it shows the quota;
// with some it sets them (the others stay), over the control plane's unix socket. `none` lifts one.
import type { Command } from "commander";
import type { ProjectQuota } from "@sbx-sh/protocol";
import { globalsOf, withClient } from "../context.js";
import { readDecimal, readWhole } from "../option-numbers.js";
import { formatMemory, formatTable, printJson, printLines } from "../output.js";
import { parseMemory } from "./sandbox-flags.js";

/** A limit, or null for `none`. */
const limit =
  (parse: (v: string) => number) =>
  (value: string): number | null =>
    value === "none" ? null : parse(value);

const wholeOrZero = (value: string): number => readWhole(value, 0, "a whole number or none");
const cpus = (value: string): number => readDecimal(value, "a number of cpus or none", true);

export function registerQuotaCommand(project: Command): void {
  project
    .command("quota")
    .description("show or set a project's quota on a cluster control plane (sandboxes, cpus, memory)")
    .argument("<name>", "project name")
    .option("--sandboxes <n|none>", "most sandboxes at once", limit(wholeOrZero))
    .option("--cpus <n|none>", "most cpus in total (fractions allowed)", limit(cpus))
    .option("--memory <MB|none>", "most memory in total, in MB (or 8g)", limit(parseMemory))
    .addHelpText(
      "after",
      `\nExamples:\n  $ sbx project quota ml                               # show\n  $ sudo sbx project quota ml --sandboxes 20 --cpus 16 --memory 32g\n  $ sudo sbx project quota ml --memory none            # lift one limit`,
    )
    .action(
      async (
        name: string,
        o: { sandboxes?: number | null; cpus?: number | null; memory?: number | null },
        cmd: Command,
      ) => {
        const g = globalsOf(cmd);
        await withClient(cmd, async (client) => {
          let q: ProjectQuota = await client.projectQuota(name);
          if (o.sandboxes !== undefined || o.cpus !== undefined || o.memory !== undefined)
            q = await client.setProjectQuota(name, {
              maxSandboxes: o.sandboxes !== undefined ? o.sandboxes : q.maxSandboxes,
              maxCpus: o.cpus !== undefined ? o.cpus : q.maxCpus,
              maxMemoryMb: o.memory !== undefined ? o.memory : q.maxMemoryMb,
            });
          if (g.json) return printJson(q);
          const show = (v: number | null, f: (n: number) => string = String) => (v === null ? "none" : f(v));
          printLines([
            formatTable(
              ["PROJECT", "SANDBOXES", "CPUS", "MEMORY"],
              [[name, show(q.maxSandboxes), show(q.maxCpus), show(q.maxMemoryMb, formatMemory)]],
            ),
          ]);
        });
      },
    );
}
