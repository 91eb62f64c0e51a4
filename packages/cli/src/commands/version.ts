// `sbx version`: the CLI's version and, when it answers, the daemon's.
import type { Command } from "commander";
import { VERSION } from "@sbx-sh/protocol";
import { SandboxClient } from "@sbx-sh/sdk/core";
import { clientOptions, globalsOf } from "../context.js";
import { printJson, printLines } from "../output.js";

export function registerVersionCommand(program: Command): void {
  const version = program.command("version").description("print the versions of sbx and of the daemon");
  version
    .addHelpText(
      "after",
      `
Does not start the daemon; it says "not running" instead.

Examples:
  $ sbx version
  $ sbx version --json | jq -r .daemon`,
    )
    .action(async (_o: unknown, cmd: Command) => {
      const g = globalsOf(cmd);
      const client = new SandboxClient(clientOptions(cmd));
      let daemon: string | null = null;
      let problem = "";
      try {
        daemon = (await client.info()).version;
      } catch (err) {
        problem = err instanceof Error ? err.message : String(err);
      } finally {
        await client.close();
      }
      if (g.json) return printJson({ client: VERSION, daemon, host: client.config.host });
      printLines([`sbx   ${VERSION}`, `sbxd  ${daemon ?? `not reachable (${problem})`}`]);
    });
}
