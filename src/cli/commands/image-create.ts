// `sbx image create <file>`: load the file, pick its image, pack and upload what copy()/add()
// name, build on the daemon with live progress; Ctrl-C cancels the build there. `sbx image logs`
// re-attaches to a build's events.
import { dirname } from "node:path";
import { Option, type Command } from "commander";
import type { BuildT } from "../../api/schemas.js";
import { SbxError } from "../../common/errors.js";
import { followBuild } from "../../sdk/image-build.js";
import { BuildProgress, failureLines, type ProgressMode } from "../build-progress.js";
import { globalsOf, withClient } from "../context.js";
import { CliExit, printJson, printLines, progress } from "../output.js";
import { onStopSignals } from "./exec.js";

const EXIT_INTERRUPTED = 130;

interface CreateFlags {
  imageName?: string;
  registeredName?: string;
  tag?: string;
  replace?: boolean;
  cache?: boolean;
  progress?: string;
  detach?: boolean;
  context?: string;
  quiet?: boolean;
}

function progressOption(): Option {
  return new Option("--progress <mode>", "auto (tty on a terminal, else plain), tty, plain, or json (the events as NDJSON on stdout)").choices(["auto", "tty", "plain", "json"]).default("auto");
}

function progressMode(flag: string | undefined, quiet?: boolean): ProgressMode {
  if (quiet) return "quiet";
  if (flag === "tty" || flag === "plain" || flag === "json") return flag;
  return process.stderr.isTTY ? "tty" : "plain";
}

export function registerImageCreateCommands(image: Command): void {
  image
    .command("create")
    .alias("build")
    .description("build the image a .ts/.js file defines and register it in the project")
    .argument("<file>", "a .ts or .js file exporting an Image (or a function made with defineFunction)")
    .option("--image-name <name>", "which image to build when the file defines several")
    .option("--registered-name <name>", "register under this name (default: the image's name)")
    .option("--tag <tag>", "register under this tag (default: the image's tag, latest)")
    .option("--replace", "point an existing name:tag at the new image")
    .option("--no-cache", "run every step again, ignoring cached layers")
    .addOption(progressOption())
    .option("-d, --detach", "start the build, print its id and return")
    .option("--context <dir>", "folder copy()/add() paths are relative to (default: the file's folder)")
    .option("-q, --quiet", "no progress; print only the image id")
    .addHelpText(
      "after",
      `
The file is loaded as is (TypeScript works; \`import { Image } from "sbx"\` resolves to this sbx).
Ctrl-C cancels the build on the daemon. A failed build exits 1 and shows the step, its source
line, the exit code and the last lines of its output.

Examples:
  $ sbx image create image.ts
  $ sbx image create images.ts --image-name worker --tag v2 --replace
  $ sbx image create image.ts --no-cache --progress plain
  $ sbx image create image.ts --json | jq -r .id
  $ id=$(sbx image create image.ts --detach) && sbx image logs $id -f`,
    )
    .action(async (file: string, o: CreateFlags, cmd: Command) => {
      const g = globalsOf(cmd);
      const mode = progressMode(o.progress, o.quiet);
      // Loaded here, not at startup: jiti costs every other command ~40 ms.
      const { chooseImage, loadImageFile } = await import("../image-loader.js");
      const loaded = await loadImageFile(file);
      const { image } = chooseImage(loaded, o.imageName);
      const view = new BuildProgress({ mode });
      const abort = new AbortController();
      let buildId: string | undefined;
      const off = onStopSignals((sig) => {
        if (abort.signal.aborted) return;
        if (sig !== "SIGPIPE") progress(buildId ? `sbx: interrupted; cancelling build ${buildId}` : "sbx: interrupted");
        abort.abort();
      });
      try {
        await withClient(cmd, async (client) => {
          const build = await image.startBuild({
            client,
            registeredName: o.registeredName,
            tag: o.tag,
            replace: o.replace,
            noCache: o.cache === false,
            contextDir: o.context ?? dirname(loaded.file),
            signal: abort.signal,
            onProgress: (m) => view.note(m),
          });
          buildId = build.id;
          if (o.detach) {
            if (g.json) printJson(build);
            else printLines([build.id]);
            if (!o.quiet) progress(`follow it with: sbx image logs ${build.id} -f`);
            return;
          }
          const detail = await followBuild(client, build.id, { onEvent: (e) => view.onEvent(e), signal: abort.signal, cancelOnAbort: true });
          view.close();
          // In json mode stdout is the event stream; its done event already holds the image.
          if (mode === "json") return;
          if (g.json) printJson(detail);
          else if (o.quiet) printLines([detail.id]);
        });
      } catch (err) {
        view.close();
        if (abort.signal.aborted) {
          progress(buildId ? `sbx: build ${buildId} was cancelled on the server` : "sbx: stopped before the build started");
          throw new CliExit(EXIT_INTERRUPTED);
        }
        const build = err instanceof SbxError ? (err.details?.build as BuildT | undefined) : undefined;
        if (build) {
          // The failure block came with the done event; a build followed by polling has not shown it yet.
          if (!view.ended) progress(build.state === "failed" ? failureLines(build).join("\n") : err instanceof Error ? err.message : String(err));
          throw new CliExit(1);
        }
        throw err;
      } finally {
        off();
      }
    });

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
