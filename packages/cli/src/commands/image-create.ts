// `sbx image create <file>`: load the file (a .ts/.js/.py image or a Dockerfile), pick its image, pack
// and upload what copy()/add() name, build on the daemon with live progress; Ctrl-C cancels the
// build there. `sbx image logs` (./image-logs.ts) re-attaches to a build's events.
import { basename, dirname, resolve } from "node:path";
import { InvalidArgumentError, type Command } from "commander";
import type { BuildInfo } from "@sbx-sh/protocol";
import { SbxError } from "@sbx-sh/protocol";
import type { Image } from "@sbx-sh/sdk";
import { followBuild } from "@sbx-sh/sdk";
import { BuildProgress, failureLines, progressMode, progressOption } from "../build-progress.js";
import { BaseBuildProgress, withBaseProgress } from "../base-progress.js";
import { environmentValue } from "../config.js";
import { globalsOf, withClient } from "../context.js";
import { CliExit, printJson, printLines, progress } from "../output.js";
import { EXIT_INTERRUPTED, onStopSignals } from "./exec.js";
import { parseLabel } from "./labels.js";

interface CreateFlags {
  imageName?: string;
  registeredName?: string;
  tag?: string;
  replace?: boolean;
  cache?: boolean;
  nodeSelector?: Record<string, string>;
  progress?: string;
  detach?: boolean;
  context?: string;
  quiet?: boolean;
  file?: string;
  name?: string;
  buildArg?: Record<string, string>;
  target?: string;
}

/** What to build: an image file's image, or a Dockerfile's. */
type BuildInput =
  | { kind: "code"; file: string }
  | {
      kind: "dockerfile";
      file: string;
      contextDir: string;
      name: string;
      tag?: string;
      buildArgs: Record<string, string>;
      target?: string;
    };

/** `Dockerfile`, `Dockerfile.web`, `web.Dockerfile` (and Containerfile alike), but not `Dockerfile.ts`. */
export function isDockerfilePath(path: string): boolean {
  const name = basename(path);
  if (/\.[cm]?[jt]sx?$/i.test(name)) return false;
  return /^(docker|container)file(\..+)?$/i.test(name) || /\.(docker|container)file$/i.test(name);
}

/** `--build-arg K=V`, repeatable; `--build-arg K` takes K from this environment, as docker build does. */
function parseBuildArg(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = value.indexOf("=");
  const key = eq === -1 ? value : value.slice(0, eq);
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key))
    throw new InvalidArgumentError(`expected NAME=VALUE, got ${JSON.stringify(value)}`);
  if (eq === -1) {
    const fromEnv = environmentValue(key);
    return fromEnv === undefined ? previous : { ...previous, [key]: fromEnv };
  }
  return { ...previous, [key]: value.slice(eq + 1) };
}

function buildInput(fileArg: string | undefined, contextArg: string | undefined, o: CreateFlags): BuildInput {
  const bad = (m: string) => new SbxError("invalid_argument", m);
  const file = o.file ?? fileArg;
  // With -f, as with `docker build -f`, the one positional argument is the context.
  const context = o.file ? fileArg : contextArg;
  if (o.file && contextArg !== undefined)
    throw bad(`too many arguments: with -f ${o.file}, give at most a context folder`);
  if (!file) throw bad("give a .ts/.js file that exports an Image, or a Dockerfile (-f <Dockerfile> [context])");
  if (!o.file && !isDockerfilePath(file)) {
    const only = [
      o.name !== undefined && "-n/--name",
      o.buildArg && "--build-arg",
      o.target !== undefined && "--target",
      contextArg !== undefined && "a context folder argument",
    ].filter(Boolean);
    if (only.length)
      throw bad(
        `${only.join(", ")}: only for Dockerfiles (${file} is an image file${contextArg !== undefined ? "; its context folder is --context" : ""})`,
      );
    return { kind: "code", file };
  }
  if (o.imageName !== undefined)
    throw bad("--image-name picks one of the images a .ts file defines; a Dockerfile's image is named with -n");
  if (context !== undefined && o.context !== undefined && resolve(context) !== resolve(o.context))
    throw bad(`two build contexts: ${context} and --context ${o.context}`);
  const full = o.name ?? o.registeredName;
  if (!full)
    throw bad(`a Dockerfile does not name its image: give one with -n <name>, e.g. sbx image create ${file} -n web`);
  const [name, nameTag] = full.split(":", 2) as [string, string | undefined];
  // Known before parsing: the stages COPY --from builds first are tagged after it.
  const tag = nameTag ?? o.tag;
  return {
    kind: "dockerfile",
    file,
    contextDir: resolve(context ?? o.context ?? dirname(file)),
    name,
    ...(tag && { tag }),
    buildArgs: o.buildArg ?? {},
    ...(o.target !== undefined && { target: o.target }),
  };
}

export function registerImageCreateCommands(image: Command): void {
  image
    .command("create")
    .alias("build")
    .description("build the image a .ts/.js/.py file or a Dockerfile defines and register it in the project")
    .argument(
      "[file]",
      "a .ts or .js file exporting an Image (or a function made with defineFunction), a .py file defining one, or a Dockerfile",
    )
    .argument("[context]", "Dockerfiles: the build context folder (default: the Dockerfile's folder)")
    .option(
      "-f, --file <Dockerfile>",
      "build this Dockerfile (any name); the argument, if any, is then the context folder",
    )
    .option("-n, --name <name[:tag]>", "Dockerfiles: the image's name (required unless --registered-name is given)")
    .option(
      "--build-arg <NAME=VALUE>",
      "Dockerfiles: a value for an ARG (repeatable); NAME alone takes it from the environment",
      parseBuildArg,
    )
    .option("--target <stage>", "Dockerfiles: build this stage (FROM ... AS <stage>) instead of the last")
    .option("--image-name <name>", "which image to build when the file defines several")
    .option("--registered-name <name>", "register under this name (default: the image's name)")
    .option("--tag <tag>", "register under this tag (default: the image's tag, latest)")
    .option("--replace", "point an existing name:tag at the new image")
    .option("--no-cache", "run every step again, ignoring cached layers")
    .option(
      "--node-selector <KEY=VALUE>",
      "cluster: build on a node with this label (sbx node add --label; repeatable)",
      parseLabel,
    )
    .addOption(progressOption())
    .option("-d, --detach", "start the build, print its id and return")
    .option("--context <dir>", "folder copy()/add() and COPY/ADD paths are relative to (default: the file's folder)")
    .option("-q, --quiet", "no progress; print only the image id")
    .addHelpText(
      "after",
      `
The file is loaded as is (TypeScript works; \`import { Image } from "sbx"\` resolves to this sbx).
A .py file runs in python3 (3.11+; SBX_PYTHON) only to define its images: top-level Image
values and images attached with @function(image=...); \`from sbx_sdk import Image\` resolves to
this sbx's Python SDK; SBX_IMAGE_LOAD_TIMEOUT (seconds, default 60) bounds it.
A file named Dockerfile, Dockerfile.* or *.Dockerfile (or given with -f) is read as a Dockerfile:
FROM names an sbx image; multi-stage builds and COPY --from work (stages are kept as
name:stage-N images, listed by \`sbx image ls -a\`); .dockerignore in the context applies;
LABEL, EXPOSE and the like are ignored with a warning.
Ctrl-C cancels the build on the daemon. A failed build exits 1 and shows the step, its source
line, the exit code and the last lines of its output.

Examples:
  $ sbx image create image.ts
  $ sbx image create image.py --registered-name tools
  $ sbx image create images.ts --image-name worker --tag v2 --replace
  $ sbx image create image.ts --no-cache --progress plain
  $ sbx image create ./Dockerfile -n web --build-arg VERSION=2
  $ sbx image create -f docker/web.Dockerfile -n web:v2 --target runtime .
  $ sbx image create image.ts --json | jq -r .id
  $ sbx image create image.ts --node-selector zone=a   # cluster: build on a node labelled zone=a
  $ id=$(sbx image create image.ts --detach) && sbx image logs $id -f`,
    )
    .action(async (fileArg: string | undefined, contextArg: string | undefined, o: CreateFlags, cmd: Command) => {
      const g = globalsOf(cmd);
      const mode = progressMode(o.progress, o.quiet);
      const input = buildInput(fileArg, contextArg, o);
      let image: Image;
      let contextDir: string;
      if (input.kind === "dockerfile") {
        const { imageFromDockerfile } = await import("@sbx-sh/sdk");
        // Parsed before any daemon is involved, so a broken Dockerfile fails at once; again below with the base image's env.
        image = await imageFromDockerfile(input.file, input);
        contextDir = input.contextDir;
      } else {
        // Loaded here, not at startup: jiti costs every other command ~40 ms.
        const { chooseImage, loadImageFile } = await import("../image-loader.js");
        const loaded = await loadImageFile(input.file);
        image = chooseImage(loaded, o.imageName).image;
        contextDir = o.context ?? dirname(loaded.file);
      }
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
          if (input.kind === "dockerfile") {
            const { imageFromDockerfile } = await import("@sbx-sh/sdk");
            const made = await imageFromDockerfile(input.file, { ...input, client });
            if (!o.quiet)
              for (const w of made.warnings) progress(`warning: ${w.file}${w.line ? `:${w.line}` : ""}: ${w.message}`);
            image = made;
          }
          const base = new BaseBuildProgress(mode);
          const build = await withBaseProgress(client, base, () =>
            image.startBuild({
              client,
              registeredName: o.registeredName,
              tag: o.tag,
              replace: o.replace,
              noCache: o.cache === false,
              ...(o.nodeSelector ? { nodeSelector: o.nodeSelector } : {}),
              contextDir,
              signal: abort.signal,
              onProgress: (m) => view.note(m),
            }),
          );
          buildId = build.id;
          if (o.detach) {
            if (g.json) printJson(build);
            else printLines([build.id]);
            if (!o.quiet) progress(`follow it with: sbx image logs ${build.id} -f`);
            return;
          }
          const detail = await followBuild(client, build.id, {
            onEvent: (e) => view.onEvent(e),
            signal: abort.signal,
            cancelOnAbort: true,
          });
          view.close();
          // In json mode stdout is the event stream; its done event already holds the image.
          if (mode === "json") return;
          if (g.json) printJson(detail);
          else if (o.quiet) printLines([detail.id]);
        });
      } catch (err) {
        view.close();
        if (abort.signal.aborted) {
          progress(
            buildId ? `sbx: build ${buildId} was cancelled on the server` : "sbx: stopped before the build started",
          );
          throw new CliExit(EXIT_INTERRUPTED);
        }
        const build = err instanceof SbxError ? (err.details?.build as BuildInfo | undefined) : undefined;
        if (build) {
          // The failure block came with the done event; a build followed by polling has not shown it yet.
          if (!view.ended)
            progress(
              build.state === "failed"
                ? failureLines(build).join("\n")
                : err instanceof Error
                  ? err.message
                  : String(err),
            );
          throw new CliExit(1);
        }
        throw err;
      } finally {
        off();
      }
    });
}
