// Snapshot commands: `sbx snapshot <id>` and `snapshot ls|inspect|rm`, `sbx copy`, `sbx suspend`,
// `sbx resume`, and `sbx image register <name> <snapshot>`.
import type { Command } from "commander";
import { apiPath } from "@sbx-sh/protocol";
import type { SnapshotInfo } from "@sbx-sh/protocol";
import { globalsOf, withClient } from "../context.js";
import { parsePositiveInt } from "../option-numbers.js";
import { formatBytes } from "@sbx-sh/sdk/internal";
import { ago, formatTable, printJson, printLines, progress } from "../output.js";

function describe(s: SnapshotInfo): string {
  const rows: Array<[string, string]> = [
    ["id", s.id],
    ["status", s.status + (s.error ? ` (${s.error})` : "")],
    ["type", s.type],
    ["sandbox", s.sourceSandboxId],
    ["image", `${s.sourceImage} (${s.sourceImageId})`],
    ["parent", s.parentSnapshotId ?? "-"],
    ["layers", String(s.layers)],
    ["size", formatBytes(s.sizeBytes)],
    ["created", `${s.createdAt} (${ago(s.createdAt)})`],
  ];
  return rows.map(([k, v]) => `${`${k}:`.padEnd(10)}${v}`).join("\n");
}

export function registerSnapshotCommands(program: Command): void {
  program
    .command("snapshot")
    .description("snapshot a sandbox (it keeps running), or list/inspect/remove snapshots")
    .argument("<sandbox|ls|inspect|rm>", "a sandbox id or name, or a verb")
    .argument("[snapshots...]", "snapshot ids for inspect and rm")
    .option("--type <type>", "filesystem (default) or memory (needs CRIU 4.1+)")
    .option("-q, --quiet", "print only ids")
    .addHelpText(
      "after",
      `
Examples:
  $ snap=$(sbx snapshot sb-3f9k2)             # the sandbox keeps running
  $ sbx new --snapshot "$snap" --cpus 2       # a new sandbox with exactly those files
  $ sbx snapshot ls
  $ sbx snapshot inspect "$snap" --json
  $ sbx snapshot rm "$snap"`,
    )
    .action(
      async (target: string, ids: string[], o: { type?: "filesystem" | "memory"; quiet?: boolean }, cmd: Command) => {
        const g = globalsOf(cmd);
        await withClient(cmd, async (client) => {
          if (target === "ls" || target === "list") {
            const list = await client.listSnapshots();
            if (g.json) return printJson(list);
            if (o.quiet) return printLines(list.map((s) => s.id));
            const rows = list.map((s) => [
              s.id,
              s.sourceSandboxId,
              s.sourceImage,
              s.status,
              String(s.layers),
              formatBytes(s.sizeBytes),
              ago(s.createdAt),
            ]);
            return printLines([formatTable(["ID", "SANDBOX", "IMAGE", "STATUS", "LAYERS", "SIZE", "CREATED"], rows)]);
          }
          if (target === "inspect" || target === "rm") {
            if (ids.length === 0) throw new Error(`sbx snapshot ${target} needs at least one snapshot id`);
            for (const id of ids) {
              const s = target === "rm" ? await client.deleteSnapshot(id) : await client.getSnapshot(id);
              if (g.json) printJson(s);
              else printLines([target === "rm" ? s.id : describe(s)]);
            }
            return;
          }
          if (process.stderr.isTTY && !o.quiet && !g.json) progress(`snapshotting ${target}...`);
          const snap = await client.transport.json<SnapshotInfo>("POST", apiPath("sandboxSnapshot", { id: target }), {
            json: o.type ? { type: o.type } : {},
          });
          if (g.json) printJson(snap);
          else printLines([snap.id]);
        });
      },
    );

  program
    .command("copy")
    .description("fork a running sandbox: snapshot it once and start copies with its files")
    .argument("<sandbox>", "sandbox id or name")
    .option("-n, --times <n>", "how many copies", parsePositiveInt, 1)
    .option("--keep-snapshot", "keep the snapshot the copies are made from (deleted by default)")
    .addHelpText(
      "after",
      "\nExamples:\n  $ sbx copy sb-3f9k2 -n 5                    # prints five new ids\n  $ sbx copy build-box --json | jq -r '.[].id'",
    )
    .action(async (id: string, o: { times: number; keepSnapshot?: boolean }, cmd: Command) => {
      const g = globalsOf(cmd);
      await withClient(cmd, async (client) => {
        const res = await client.transport.json<{ sandboxes: Array<{ id: string }> }>(
          "POST",
          apiPath("sandboxCopy", { id }),
          { json: { times: o.times, ...(o.keepSnapshot ? { keepSnapshot: true } : {}) } },
        );
        if (g.json) printJson(res.sandboxes);
        else printLines(res.sandboxes.map((s) => s.id));
      });
    });

  for (const verb of ["suspend", "resume"] as const) {
    program
      .command(verb)
      .description(
        verb === "suspend"
          ? "save a named sandbox's files and release its processes and memory"
          : "bring a suspended sandbox back (same id and name, files intact)",
      )
      .argument("<sandbox>", "sandbox id or name")
      .addHelpText("after", `\nExamples:\n  $ sbx new --name dev\n  $ sbx ${verb} dev`)
      .action(async (id: string, _o: unknown, cmd: Command) => {
        const g = globalsOf(cmd);
        await withClient(cmd, async (client) => {
          const sb = await client.transport.json<{ id: string; status: string }>(
            "POST",
            apiPath(verb === "suspend" ? "sandboxSuspend" : "sandboxResume", { id }),
          );
          if (g.json) printJson(sb);
          else printLines([`${sb.id} ${sb.status}`]);
        });
      });
  }
}

/** `sbx image register <name[:tag]> <snapshot>`, added to the image command group. */
export function registerImageRegisterCommand(image: Command): void {
  image
    .command("register")
    .description("register a snapshot as a named image of the project")
    .argument("<name>", "image name, or name:tag")
    .argument("<snapshot>", "snapshot id")
    .option("--replace", "point an existing name at this snapshot")
    .addHelpText("after", "\nExamples:\n  $ sbx image register dev-env snap-8k2j3\n  $ sbx new --image dev-env")
    .action(async (name: string, snapshot: string, o: { replace?: boolean }, cmd: Command) => {
      const g = globalsOf(cmd);
      await withClient(cmd, async (client) => {
        const img = await client.registerImage(name, snapshot, { replace: o.replace });
        if (g.json) printJson(img);
        else printLines([`${img.name}:${img.tag} ${img.id}`]);
      });
    });
}
