// Sandbox lifecycle commands: `sbx new`, `sbx ls`, `sbx info`, `sbx update`, `sbx rm` (the settings
// `new` shares with `run`: sandbox-flags.ts).
import type { Command } from "commander";
import type { SandboxInfo } from "@sbx-sh/protocol";
import type { ListSandboxesOptions } from "@sbx-sh/sdk";
import { parseFilter } from "./labels.js";
import { globalsOf, withClient } from "../context.js";
import { parseNonNegativeInt } from "../option-numbers.js";
import { ago, CliExit, formatMemory, formatTable, printError, printJson, printLines, progress } from "../output.js";
import { BaseBuildProgress, withBaseProgress } from "../base-progress.js";
import { transferMode } from "../transfer-progress.js";
import { addSandboxFlags, collectList, collectPorts, createRequest, type SandboxFlags } from "./sandbox-flags.js";

/** Entries as given, host names followed by their current addresses. */
function egressList(sb: SandboxInfo, list: "allowOut" | "denyOut"): string[] {
  // An older daemon sends only the expanded lists.
  const entries = sb.egressEntries?.[list] ?? sb[list];
  return entries.map((e) => (sb.egressHosts?.[e] ? `${e} (${sb.egressHosts[e].join(", ")})` : e));
}

function describe(sb: SandboxInfo): string {
  const allow = egressList(sb, "allowOut");
  const deny = egressList(sb, "denyOut");
  const rows: Array<[string, string]> = [
    ["id", sb.id],
    ["name", sb.name ?? "-"],
    ["project", sb.project],
    ["status", sb.status + (sb.terminationReason ? ` (${sb.terminationReason})` : "")],
    ["image", `${sb.image} (${sb.imageId})`],
    ["cpus", String(sb.cpus)],
    ["memory", formatMemory(sb.memoryMb)],
    ["disk", formatMemory(sb.diskMb)],
    ["pids", String(sb.pidsLimit)],
    ["timeout", sb.timeoutSecs ? `${sb.timeoutSecs}s${sb.expiresAt ? ` (ends ${sb.expiresAt})` : ""}` : "none"],
    [
      "labels",
      Object.keys(sb.labels ?? {}).length
        ? Object.entries(sb.labels)
            .map(([k, v]) => `${k}=${v}`)
            .join(" ")
        : "-",
    ],
    ["internet", sb.allowInternetAccess ? "yes" : "no"],
    ["allow out", allow.length ? allow.join(" ") : sb.allowInternetAccess ? "any" : "-"],
    ["deny out", deny.length ? deny.join(" ") : "-"],
    ["ip", sb.ipAddress ?? "-"],
    [
      "volumes",
      sb.volumes?.length ? sb.volumes.map((v) => `${v.name}:${v.path}${v.readOnly ? ":ro" : ""}`).join(" ") : "-",
    ],
    [
      "env",
      Object.keys(sb.env).length
        ? Object.entries(sb.env)
            .map(([k, v]) => `${k}=${v}`)
            .join(" ")
        : "-",
    ],
    ["created", `${sb.createdAt} (${ago(sb.createdAt)})`],
    ["started", sb.startedAt ?? "-"],
    ["terminated", sb.terminatedAt ?? "-"],
  ];
  return rows.map(([k, v]) => `${`${k}:`.padEnd(12)}${v}`).join("\n");
}

export function registerSandboxCommands(program: Command): void {
  const create = program.command("new").alias("create").description("create a sandbox and print its id");
  addSandboxFlags(create)
    .option(
      "--timeout <seconds>",
      "terminate the sandbox after this many seconds (0: never; default 600)",
      parseNonNegativeInt,
    )
    .option("-q, --quiet", "print only the id")
    .option(
      "-p, --port <port>",
      "expose this port on the daemon's HTTP proxy once running; its URL goes to stderr (repeatable)",
      collectPorts,
    )
    .option("--public", "with --port: no token needed")
    .addHelpText(
      "after",
      `
Examples:
  $ sbx new                                   # debian-minimal, 1 CPU, 1 GB, 10 minutes
  $ id=$(sbx new --image data-tools --cpus 2 --memory 2g --timeout 3600)   # an image of yours (sbx image ls)
  $ sbx new --label team=ml --label env=dev   # sbx ls --filter label=team=ml
  $ sbx new --name build-box -e CI=1 -e TOKEN=abc --no-internet
  $ sbx new --node-selector zone=a            # cluster: on a node labelled zone=a
  $ sbx new --json | jq .ipAddress
  $ sbx new -p 8080 --public                  # and expose port 8080 (see sbx port --help)`,
    )
    .action(
      async (
        o: SandboxFlags & { timeout?: number; quiet?: boolean; port?: number[]; public?: boolean },
        cmd: Command,
      ) => {
        const g = globalsOf(cmd);
        if (o.public && !o.port) cmd.error("error: --public goes with -p/--port");
        await withClient(cmd, async (client) => {
          if (process.stderr.isTTY && !o.quiet && !g.json) progress("creating sandbox...");
          const base = new BaseBuildProgress(transferMode({ json: g.json, quiet: o.quiet }));
          const sb = await withBaseProgress(client, base, () => client.create(createRequest(o)));
          if (g.json) printJson(sb);
          else printLines([sb.id]);
          for (const p of o.port ?? []) {
            const e = await client.exposePort(sb.id, p, { public: o.public ?? false });
            if (!o.quiet) progress(`port ${p}: ${e.public ? e.url : `${e.url}?sbx_token=${e.token}`}`);
          }
        });
      },
    );

  const ls = program.command("ls").alias("list").description("list sandboxes (newest first)");
  ls.option("-a, --all", "include terminated sandboxes (kept for the daemon's --retention, default 24 h)")
    .option("-q, --quiet", "print only ids")
    .option(
      "-f, --filter <filter>",
      "label=KEY[=VALUE], status=STATUS, image=NAME; comma-separated or repeated (all must match)",
      parseFilter,
    )
    .addHelpText(
      "after",
      `
Examples:
  $ sbx ls
  $ sbx ls -a --json | jq '.[] | select(.status == "terminated") | .id'
  $ sbx rm $(sbx ls -q)                       # terminate everything in the project
  $ sbx ls --filter label=team=ml --filter status=running
  $ sbx ls -f image=debian-minimal,label=ci -q`,
    )
    .action(async (o: { all?: boolean; quiet?: boolean; filter?: ListSandboxesOptions }, cmd: Command) => {
      const g = globalsOf(cmd);
      await withClient(cmd, async (client) => {
        const list = (await client.list({ ...o.filter, all: o.all })).sort((a, b) =>
          b.createdAt.localeCompare(a.createdAt),
        );
        if (g.json) return printJson(list);
        if (o.quiet) return printLines(list.map((s) => s.id));
        const rows = list.map((s) => [
          s.id,
          s.name ?? "-",
          s.image,
          s.status,
          String(s.cpus),
          formatMemory(s.memoryMb),
          ago(s.createdAt),
        ]);
        printLines([formatTable(["ID", "NAME", "IMAGE", "STATUS", "CPUS", "MEMORY", "CREATED"], rows)]);
      });
    });

  const info = program.command("info").alias("inspect").description("show one sandbox");
  info
    .argument("<id>", "sandbox id or name")
    .addHelpText(
      "after",
      `
Examples:
  $ sbx info sb-3f9k2
  $ sbx info build-box --json | jq -r .status`,
    )
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const g = globalsOf(cmd);
      await withClient(cmd, async (client) => {
        const sb = await client.get(id);
        if (g.json) printJson(sb);
        else printLines([describe(sb)]);
      });
    });

  const update = program
    .command("update")
    .description("change a running sandbox's timeout or egress policy (each in one atomic step)");
  update
    .argument("<id>", "sandbox id or name")
    .option(
      "-A, --allow-out <cidr>",
      "replace the allow list: only these are reachable, plus DNS (repeatable)",
      collectList,
    )
    .option("-D, --deny-out <cidr>", "replace the deny list (repeatable)", collectList)
    .option("--clear", "empty the lists not given with -A/-D (alone: no restrictions)")
    .option("--timeout <seconds>", "end the sandbox this many seconds from now (0: never)", parseNonNegativeInt)
    .addHelpText(
      "after",
      `
Examples:
  $ sbx update sb-3f9k2 -A 203.0.113.0/24 -A 198.51.100.7
  $ sbx update build-box -D 10.0.0.0/8
  $ sbx update build-box --clear              # back to unrestricted egress
  $ sbx update build-box --timeout 3600       # one more hour from now`,
    )
    .option("-q, --quiet", "print only the id")
    .action(
      async (
        id: string,
        o: { allowOut?: string[]; denyOut?: string[]; clear?: boolean; timeout?: number; quiet?: boolean },
        cmd: Command,
      ) => {
        const g = globalsOf(cmd);
        const egress = o.allowOut !== undefined || o.denyOut !== undefined || o.clear;
        if (!egress && o.timeout === undefined)
          cmd.error("error: give --timeout, -A/--allow-out, -D/--deny-out or --clear");
        await withClient(cmd, async (client) => {
          let sb = o.timeout !== undefined ? await client.setTimeout(id, o.timeout) : undefined;
          if (egress)
            sb = await client.updateNetwork(id, {
              allowOut: o.allowOut ?? (o.clear ? [] : undefined),
              denyOut: o.denyOut ?? (o.clear ? [] : undefined),
            });
          if (g.json) printJson(sb);
          else if (o.quiet) printLines([sb!.id]);
          else printLines([describe(sb!)]);
        });
      },
    );

  const rm = program.command("rm").alias("terminate").description("terminate sandboxes");
  rm.argument("<id...>", "sandbox ids or names")
    .option("-q, --quiet", "print only ids (as without it)")
    .addHelpText(
      "after",
      `
Examples:
  $ sbx rm sb-3f9k2
  $ sbx rm build-box web-1
  $ sbx rm $(sbx ls -q)

A sandbox that has already ended is fine: rm answers its id again.`,
    )
    .action(async (ids: string[], _o: unknown, cmd: Command) => {
      const g = globalsOf(cmd);
      let failed = 0;
      const done: SandboxInfo[] = [];
      await withClient(cmd, async (client) => {
        for (const id of ids) {
          try {
            const sb = await client.terminate(id);
            done.push(sb);
            if (!g.json) printLines([sb.id]);
          } catch (err) {
            failed++;
            printError(err, g.debug);
          }
        }
      });
      if (g.json) printJson(done);
      if (failed) throw new CliExit(1);
    });
}
