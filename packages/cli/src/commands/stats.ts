// `sbx stats [id…]`: running sandboxes' cpu, memory, pids, disk and network use, read by the
// daemon from their cgroups and interfaces. Redrawn every 2 s on a terminal (like `docker stats`),
// printed once when piped, with --no-stream, or with --json.
import type { Command } from "commander";
import { globalsOf, withClient } from "../context.js";
import { parsePositive } from "../option-numbers.js";
import { printJson, printLines, stdoutGone } from "../output.js";
import { redraw, statsTable } from "../stats-format.js";

export function registerStatsCommand(program: Command): void {
  program
    .command("stats")
    .description("show running sandboxes' cpu, memory, pids, disk and network use")
    .argument("[ids...]", "sandbox ids or names (default: every running sandbox of the project)")
    .option("--no-stream", "print once and exit (the default when stdout is not a terminal)")
    .option("--interval <secs>", "seconds between refreshes on a terminal", parsePositive, 2)
    .addHelpText(
      "after",
      `
CPU % is of one core, since the previous reading (100 = one core busy). MEM leaves out page cache.
DISK is the sandbox's writable layer against its size cap; NET counts bytes since it started.

Examples:
  $ sbx stats
  $ sbx stats $id --no-stream
  $ sbx stats --json | jq '.[] | {sandboxId, memoryBytes}'`,
    )
    .action(async (ids: string[], o: { stream: boolean; interval: number }, cmd: Command) => {
      const g = globalsOf(cmd);
      await withClient(cmd, async (client) => {
        const live = o.stream && !g.json && process.stdout.isTTY === true;
        if (!live) {
          const list = await client.stats(ids);
          if (g.json) return printJson(list);
          return printLines([statsTable(list)]);
        }
        while (!stdoutGone.signal.aborted) {
          redraw(statsTable(await client.stats(ids)));
          await new Promise((r) => setTimeout(r, o.interval * 1000));
        }
      });
    });
}
