// `sbx volume create|ls|inspect|rm` and the `--volume NAME:/path[:ro]` flag of `sbx new` and
// `sbx run`: named persistent directories of the project with a size cap, kept after the
// sandboxes that mount them. Read-write by one sandbox at a time, read-only by any number.
import { type Command, InvalidArgumentError } from "commander";
import type { VolumeInfo, VolumeMount } from "@sbx-sh/protocol";
import { formatBytes } from "@sbx-sh/sdk/internal";
import { globalsOf, withClient } from "../context.js";
import { exactWhole } from "../option-numbers.js";
import { ago, formatTable, printJson, printLines } from "../output.js";

/** `--volume data:/data` (read-write) or `--volume data:/data:ro`; repeatable. */
export function parseVolumeFlag(value: string, previous: VolumeMount[] = []): VolumeMount[] {
  const m = /^([^:]+):(\/[^:]*)(?::(ro|rw))?$/.exec(value);
  if (!m)
    throw new InvalidArgumentError(
      `expected NAME:/path or NAME:/path:ro (e.g. --volume data:/data), got ${JSON.stringify(value)}`,
    );
  return [...previous, { name: m[1]!, path: m[2]!, ...(m[3] === "ro" ? { readOnly: true } : {}) }];
}

/** A size cap: MiB, or with a unit (512m, 1g, 1G, 2GiB). */
export function parseVolumeSize(value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(([mgt])(i?b)?)?$/i.exec(value.trim());
  if (!m) throw new InvalidArgumentError(`expected a size like 512m, 1g or 20G, got ${JSON.stringify(value)}`);
  const unit = (m[3] ?? "m").toLowerCase();
  const n = Number(m[1]) * (unit === "t" ? 1024 * 1024 : unit === "g" ? 1024 : 1);
  if (n <= 0) throw new InvalidArgumentError(`expected a whole number of MiB, got ${JSON.stringify(value)}`);
  return exactWhole(n, value, "a whole number of MiB");
}

function holders(v: VolumeInfo): string {
  return v.mountedBy.length
    ? v.mountedBy.map((h) => `${h.sandboxName ?? h.sandboxId}:${h.path}${h.readOnly ? ":ro" : ""}`).join(" ")
    : "-";
}

function describe(v: VolumeInfo): string {
  const rows: Array<[string, string]> = [
    ["name", v.name],
    ["id", v.id],
    ["project", v.project],
    ["size", `${formatBytes(v.sizeMb * 1024 * 1024)} cap`],
    ["used", `${formatBytes(v.usedBytes)} of ${formatBytes(v.capacityBytes)}`],
    ["mounted by", holders(v)],
    ["created", `${v.createdAt} (${ago(v.createdAt)})`],
  ];
  return rows.map(([k, val]) => `${`${k}:`.padEnd(12)}${val}`).join("\n");
}

export function registerVolumeCommands(program: Command): void {
  const volume = program
    .command("volume")
    .description("volumes: persistent directories of the project, mounted with sbx new --volume");
  volume.addHelpText(
    "after",
    `
Examples:
  $ sbx volume create cache --size 2G
  $ sbx new --volume cache:/cache            # read-write: one sandbox at a time
  $ sbx new --volume cache:/cache:ro         # read-only: any number of sandboxes
  $ sbx volume ls
  $ sbx volume rm cache                      # only when no sandbox holds it`,
  );

  volume
    .command("create")
    .description("create a volume with a size cap (default 1G)")
    .argument("<name>", "volume name: lowercase letters, digits, '.', '_', '-'")
    .option("--size <size>", "size cap: 512m, 1g, 20G (default 1G)", parseVolumeSize)
    .option("-q, --quiet", "print only the name")
    .addHelpText(
      "after",
      "\nExamples:\n  $ sbx volume create data --size 5G\n  $ sbx run --volume data:/data -- df -h /data",
    )
    .action(async (name: string, o: { size?: number }, cmd: Command) => {
      const g = globalsOf(cmd);
      await withClient(cmd, async (client) => {
        const v = await client.createVolume(name, { sizeMb: o.size });
        if (g.json) printJson(v);
        else printLines([v.name]);
      });
    });

  volume
    .command("ls")
    .alias("list")
    .description("list the project's volumes with their usage and the sandboxes holding them")
    .option("-q, --quiet", "print only names")
    .addHelpText("after", "\nExamples:\n  $ sbx volume ls\n  $ sbx volume ls --json | jq '.[] | {name, usedBytes}'")
    .action(async (o: { quiet?: boolean }, cmd: Command) => {
      const g = globalsOf(cmd);
      await withClient(cmd, async (client) => {
        const list = await client.listVolumes();
        if (g.json) return printJson(list);
        if (o.quiet) return printLines(list.map((v) => v.name));
        const rows = list.map((v) => [
          v.name,
          formatBytes(v.sizeMb * 1024 * 1024),
          formatBytes(v.usedBytes),
          holders(v),
          ago(v.createdAt),
        ]);
        printLines([formatTable(["NAME", "SIZE", "USED", "MOUNTED BY", "CREATED"], rows)]);
      });
    });

  volume
    .command("inspect")
    .description("show volumes in detail")
    .argument("<name...>", "volume names")
    .option("-q, --quiet", "print only names")
    .addHelpText("after", "\nExamples:\n  $ sbx volume inspect data --json")
    .action(async (names: string[], o: { quiet?: boolean }, cmd: Command) => {
      const g = globalsOf(cmd);
      await withClient(cmd, async (client) => {
        const list = [];
        for (const n of names) list.push(await client.getVolume(n));
        if (g.json) return printJson(list.length === 1 ? list[0] : list);
        printLines(o.quiet ? list.map((v) => v.name) : list.map(describe));
      });
    });

  volume
    .command("rm")
    .alias("remove")
    .description("remove volumes and their files (refused while a sandbox, running or suspended, holds one)")
    .argument("<name...>", "volume names")
    .option("-q, --quiet", "print only names")
    .addHelpText("after", "\nExamples:\n  $ sbx volume rm data")
    .action(async (names: string[], _o: unknown, cmd: Command) => {
      const g = globalsOf(cmd);
      await withClient(cmd, async (client) => {
        const done = [];
        for (const n of names) done.push(await client.deleteVolume(n));
        if (g.json) printJson(done);
        else printLines(done.map((v) => v.name));
      });
    });
}
