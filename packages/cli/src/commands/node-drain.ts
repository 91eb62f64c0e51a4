// `sbx node drain <name>`: the node takes no new sandboxes and each named sandbox on it moves to
// another node (suspended there, resumed elsewhere with the same id and name), with a line per
// sandbox as it goes; unnamed sandboxes stay until they end. Exits 1 if any sandbox could not move.
import type { Command } from "commander";
import type { DrainOutcome } from "@sbx-sh/protocol";
import { globalsOf, withClient } from "../context.js";
import { CliExit, printJson, printLines, progress } from "../output.js";

/** Node and sandbox answers are printed, never interpreted: no terminal control characters. */
const plain = (s: string): string => s.replace(/\p{Cc}/gu, "?");

function line(o: DrainOutcome): string {
  const who = plain(o.name ? `${o.name} (${o.sandbox})` : `${o.sandbox} (unnamed)`);
  switch (o.outcome) {
    case "moving":
      return `moving ${who} off ${plain(o.from)} …`;
    case "moved":
      return `moved ${who}: ${plain(o.from)} → ${plain(o.to ?? "?")}`;
    case "failed":
      return `could not move ${who}: ${plain(o.error?.message ?? "unknown error")}; it stays on ${plain(o.from)}, running`;
    case "suspended":
      return `${who} is suspended: it stays so; \`sbx resume ${plain(o.name ?? o.sandbox)}\` starts it on another node once ${plain(o.from)} is gone`;
    default:
      return `${who} stays on ${plain(o.from)} until it ends (only named sandboxes move)`;
  }
}

export function registerNodeDrainCommand(node: Command): void {
  node
    .command("drain")
    .description("take no new sandboxes and move the named ones to other nodes (needs the cluster registry)")
    .argument("<name>", "node name")
    .addHelpText(
      "after",
      `
Each named sandbox is suspended on the node (its files pushed to the cluster registry), then resumed
on another ready node with the same id and name: handles and names keep working. Processes do not
survive the move (as with suspend); exposed ports must be exposed again. Unnamed sandboxes stay until
they end. A sandbox that cannot move stays where it was, running, and the command exits 1; running
it again finishes what an interrupted drain left. \`sbx node ready\` takes the node back.

Examples:
  $ sbx node drain n2
  $ sbx node drain n2 --json | jq '.sandboxes[] | select(.outcome == "failed")'`,
    )
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const g = globalsOf(cmd);
      await withClient(cmd, async (client) => {
        const r = await client.drainNode(name, { onProgress: (o) => !g.json && progress(line(o)) });
        if (g.json) printJson(r);
        else
          printLines([
            `node ${plain(r.node)} draining: ${r.moved} moved, ${r.failed} could not move, ${r.suspended} suspended, ` +
              `${r.stays} unnamed staying until they end`,
          ]);
        if (r.failed > 0) throw new CliExit(1);
      });
    });
}
