// `sbx image logs <build-id>`: a build's progress and output from its start, as `sbx image create`
// shows them; -f follows until it ends. Ctrl-C stops following, the build goes on.
import type { Command } from "commander";
import { BuildProgress, progressMode, progressOption } from "../build-progress.js";
import { globalsOf, withClient } from "../context.js";
import { CliExit, progress } from "../output.js";
import { EXIT_INTERRUPTED, onStopSignals } from "./exec.js";

export function registerImageLogsCommand(image: Command): void {
  image
    .command("logs")
    .description("show a build's progress and output; -f follows it until it ends")
    .argument("<build-id>", "from `sbx image builds` or `sbx image create --detach`")
    .option("-f, --follow", "keep following until the build ends")
    .addOption(progressOption())
    .addHelpText(
      "after",
      `
Exits 1 when the build failed or was cancelled. Ctrl-C stops following; the build goes on.

Examples:
  $ sbx image logs bld-3k9x0q2m4abc
  $ sbx image logs bld-3k9x0q2m4abc -f --progress plain
  $ sbx image logs bld-3k9x0q2m4abc --progress json | jq -c 'select(.type == "step")'`,
    )
    .action(async (id: string, o: { follow?: boolean; progress?: string }, cmd: Command) => {
      const g = globalsOf(cmd);
      const mode = progressMode(g.json && o.progress === "auto" ? "json" : o.progress);
      const view = new BuildProgress({ mode });
      const abort = new AbortController();
      const off = onStopSignals(() => abort.abort());
      try {
        await withClient(cmd, async (client) => {
          for await (const ev of client.buildEvents(id, { follow: o.follow, signal: abort.signal })) view.onEvent(ev);
        });
      } catch (err) {
        if (abort.signal.aborted) throw new CliExit(EXIT_INTERRUPTED);
        throw err;
      } finally {
        view.close();
        off();
      }
      if (!view.ended) {
        if (!o.follow) progress(`build ${id} is still running: follow it with \`sbx image logs ${id} -f\``);
        return;
      }
      if (view.ended.state !== "succeeded") throw new CliExit(1);
    });
}
