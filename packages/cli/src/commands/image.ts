// `sbx image ...`: the group, and the commands that look at what exists: ls, inspect, rm, builds,
// cancel. Building (create) and following builds (logs) are in image-create.ts.
import type { Command } from "commander";
import type { BuildInfo, ImageInfo } from "@sbx-sh/protocol";
import { formatBytes } from "@sbx-sh/sdk/internal";
import { globalsOf, withClient } from "../context.js";
import { formatDuration } from "../build-progress.js";
import { ago, CliExit, formatTable, printError, printJson, printLines, progress } from "../output.js";
import { unbuiltBaseRows } from "./image-bases.js";
import { registerImageCreateCommands } from "./image-create.js";
import { registerImageLogsCommand } from "./image-logs.js";

/** `name:tag`; base images by name alone, as they are used. */
export function imageRef(i: ImageInfo): string {
  return i.kind === "base" ? i.name : `${i.name}:${i.tag}`;
}

/** The intermediate images of a multi-stage build: `name:stage-N` or `name:<tag>-stage-N`. */
export function isStageImage(i: ImageInfo): boolean {
  return i.kind === "built" && /(^|-)stage-\d+$/.test(i.tag);
}

function shortId(id: string): string {
  return id.replace(/^sha256:/, "").slice(0, 12);
}

function buildDuration(b: BuildInfo): string {
  if (!b.startedAt) return "-";
  const end = b.endedAt ? Date.parse(b.endedAt) : Date.now();
  return formatDuration(end - Date.parse(b.startedAt)) + (b.endedAt ? "" : " so far");
}

export function describeImage(i: ImageInfo): string {
  const rows: Array<[string, string]> = [
    ["image", imageRef(i)],
    ["id", i.id],
    ["kind", i.kind + (i.project ? ` (project ${i.project})` : "")],
    ["base", i.baseImage ?? "-"],
    ["size", formatBytes(i.sizeBytes)],
    ["isolation", i.isolation],
    ["build", i.buildId ?? "-"],
    ["created", i.createdAt ? `${i.createdAt} (${ago(i.createdAt)})` : "-"],
  ];
  const config: Array<[string, string]> = [
    ["env", i.config.env.length ? i.config.env.join(" ") : "-"],
    ["workdir", i.config.workingDir],
    ["user", i.config.user],
    ["entrypoint", i.config.entrypoint ? JSON.stringify(i.config.entrypoint) : "-"],
    ["cmd", i.config.cmd ? JSON.stringify(i.config.cmd) : "-"],
    ["systemd", i.config.systemd ? "yes" : "no"],
  ];
  const layers = formatTable(
    ["#", "STEP", "KEY", "SIZE", "CACHED"],
    i.layers.map((l, n) => [
      String(n + 1),
      l.step.length > 60 ? `${l.step.slice(0, 59)}…` : l.step,
      shortId(l.key.replace(/^base:/, "")),
      formatBytes(l.sizeBytes),
      l.cached ? "yes" : "no",
    ]),
  );
  return [
    ...rows.map(([k, v]) => `${`${k}:`.padEnd(12)}${v}`),
    "config:",
    ...config.map(([k, v]) => `  ${`${k}:`.padEnd(12)}${v}`),
    `layers (${i.layers.length}):`,
    ...layers.split("\n").map((l) => `  ${l}`),
  ].join("\n");
}

export function registerImageCommands(program: Command): void {
  const image = program.command("image").description("build images from code and manage them");
  image.addHelpText(
    "after",
    `
Examples:
  $ sbx image create image.ts                 # build the image image.ts exports
  $ sbx image ls
  $ sbx image inspect data-tools
  $ sbx new --image data-tools                # a sandbox from it
  $ sbx image rm data-tools`,
  );
  registerImageCreateCommands(image);
  registerImageLogsCommand(image);

  image
    .command("ls")
    .alias("list")
    .description("list base images and the project's images")
    .option("-q, --quiet", "print only references (name:tag)")
    .option("-a, --all", "also the stage images multi-stage Dockerfile builds keep (name:stage-N)")
    .addHelpText(
      "after",
      `
Examples:
  $ sbx image ls
  $ sbx image ls -a                           # with name:stage-N images of multi-stage builds
  $ sbx image ls --json | jq -r '.[] | select(.kind == "built") | .id'`,
    )
    .action(async (o: { quiet?: boolean; all?: boolean }, cmd: Command) => {
      const g = globalsOf(cmd);
      await withClient(cmd, async (client) => {
        const list = (await client.listImages()).filter((i) => o.all || !isStageImage(i));
        if (g.json) return printJson(list);
        if (o.quiet) return printLines(list.map(imageRef));
        const unbuilt = unbuiltBaseRows(await client.listBaseImages());
        const rows = list.map((i) => [
          i.name,
          i.kind === "base" ? "-" : i.tag,
          shortId(i.id),
          i.kind,
          formatBytes(i.sizeBytes),
          i.createdAt ? ago(i.createdAt) : "-",
        ]);
        printLines([formatTable(["NAME", "TAG", "ID", "KIND", "SIZE", "CREATED"], [...rows, ...unbuilt.rows])]);
        if (unbuilt.notes.length) progress(unbuilt.notes.join("\n"));
      });
    });

  image
    .command("inspect")
    .alias("info")
    .description("show an image: its layers (step, cache key, size, cached), config and isolation")
    .argument("<image>", "name or name:tag")
    .addHelpText(
      "after",
      `
Examples:
  $ sbx image inspect data-tools
  $ sbx image inspect data-tools:v2 --json | jq '.layers[] | {step, sizeBytes}'`,
    )
    .action(async (ref: string, _o: unknown, cmd: Command) => {
      const g = globalsOf(cmd);
      await withClient(cmd, async (client) => {
        const detail = await client.getImage(ref);
        if (g.json) printJson(detail);
        else printLines([describeImage(detail)]);
      });
    });

  image
    .command("rm")
    .alias("remove")
    .description("remove images from the project (running sandboxes keep working)")
    .argument("<image...>", "names or name:tag")
    .addHelpText(
      "after",
      `
Examples:
  $ sbx image rm data-tools
  $ sbx image rm api:v1 worker:v1`,
    )
    .action(async (refs: string[], _o: unknown, cmd: Command) => {
      const g = globalsOf(cmd);
      let failed = 0;
      const removed: ImageInfo[] = [];
      await withClient(cmd, async (client) => {
        for (const ref of refs) {
          try {
            const detail = await client.deleteImage(ref);
            removed.push(detail);
            if (!g.json) printLines([imageRef(detail)]);
          } catch (err) {
            failed++;
            printError(err, g.debug);
          }
        }
      });
      if (g.json) printJson(removed);
      if (failed) throw new CliExit(1);
    });

  image
    .command("builds")
    .description("list the project's builds, newest first")
    .option("-q, --quiet", "print only build ids")
    .addHelpText(
      "after",
      `
Examples:
  $ sbx image builds
  $ sbx image logs $(sbx image builds -q | head -1)`,
    )
    .action(async (o: { quiet?: boolean }, cmd: Command) => {
      const g = globalsOf(cmd);
      await withClient(cmd, async (client) => {
        const builds = await client.listBuilds();
        if (g.json) return printJson(builds);
        if (o.quiet) return printLines(builds.map((b) => b.id));
        const rows = builds.map((b) => [
          b.id,
          `${b.imageName}:${b.tag}`,
          b.state,
          String(b.steps),
          ago(b.createdAt),
          buildDuration(b),
        ]);
        printLines([formatTable(["ID", "IMAGE", "STATE", "STEPS", "CREATED", "DURATION"], rows)]);
      });
    });

  image
    .command("cancel")
    .description("cancel a running build (its build sandbox is removed)")
    .argument("<build-id>", "from `sbx image builds` or `sbx image create --detach`")
    .addHelpText(
      "after",
      `
Examples:
  $ sbx image cancel bld-3k9x0q2m4abc`,
    )
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const g = globalsOf(cmd);
      await withClient(cmd, async (client) => {
        const build = await client.cancelBuild(id);
        if (g.json) printJson(build);
        else printLines([build.id]);
      });
    });
}
