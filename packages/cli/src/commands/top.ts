// `sbx top`: a live view of the project's sandboxes (status, age, cpu, memory, pids), from the same
// stats as `sbx stats` and the event stream: a sandbox that starts or ends shows at once, usage
// refreshes every interval. Printed once when stdout is not a terminal or with --json.
import type { Command } from "commander";
import type { SandboxInfo, SandboxUsage } from "@sbx-sh/protocol";
import type { SandboxClient } from "@sbx-sh/sdk";
import { globalsOf, withClient } from "../context.js";
import { parsePositive } from "../option-numbers.js";
import { ago, formatTable, printJson, printLines, stdoutGone } from "../output.js";
import { clean, formatBytes, redraw } from "../stats-format.js";

interface TopRow {
  sandbox: SandboxInfo;
  usage: SandboxUsage | null;
}

async function snapshot(client: SandboxClient): Promise<TopRow[]> {
  const [list, stats] = await Promise.all([client.list(), client.stats()]);
  const byId = new Map(stats.map((u) => [u.sandboxId, u]));
  return list
    .map((sandbox) => ({ sandbox, usage: byId.get(sandbox.id) ?? null }))
    .sort((a, b) => (b.usage?.cpuPercent ?? -1) - (a.usage?.cpuPercent ?? -1));
}

export function topTable(rows: TopRow[]): string {
  return formatTable(
    ["SANDBOX", "NAME", "IMAGE", "STATUS", "AGE", "CPU %", "MEM", "PIDS"],
    rows.map(({ sandbox: s, usage: u }) => [
      s.id,
      clean(s.name ?? "-"),
      clean(s.image),
      s.status,
      ago(s.createdAt).replace(/ ago$/, ""),
      u ? u.cpuPercent.toFixed(1) : "-",
      u ? formatBytes(u.memoryBytes) : "-",
      u ? String(u.pids) : "-",
    ]),
  );
}

export function registerTopCommand(program: Command): void {
  program
    .command("top")
    .description("live view of the project's sandboxes: status, age, cpu, memory, pids")
    .option("--interval <secs>", "seconds between usage refreshes", parsePositive, 2)
    .addHelpText(
      "after",
      `
Sorted by cpu use. Sandboxes that start or end appear at once (from the event stream).
Press Ctrl-C to leave. Piped or with --json it prints once.

Examples:
  $ sbx top
  $ sbx top --json | jq '.[] | select(.usage.cpuPercent > 50) | .sandbox.id'`,
    )
    .action(async (o: { interval: number }, cmd: Command) => {
      const g = globalsOf(cmd);
      await withClient(cmd, async (client) => {
        if (g.json) return printJson(await snapshot(client));
        if (!process.stdout.isTTY) return printLines([topTable(await snapshot(client))]);
        const stop = new AbortController();
        stdoutGone.signal.addEventListener("abort", () => stop.abort());
        let wake: (() => void) | undefined;
        // Lifecycle events cut the wait short, so the view follows sandboxes as they come and go.
        void (async () => {
          for await (const _ of client.events({ types: ["sandbox"], signal: stop.signal })) wake?.();
        })().catch(() => undefined);
        while (!stop.signal.aborted) {
          const rows = await snapshot(client);
          redraw(`sbx top — ${rows.length} sandboxes, ${new Date().toLocaleTimeString()}\n\n${topTable(rows)}`);
          await new Promise<void>((r) => {
            wake = r;
            setTimeout(r, o.interval * 1000);
          });
        }
      });
    });
}
