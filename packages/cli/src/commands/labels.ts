// Sandbox labels and list filters on the command line: `--label k=v` at create, and
// `sbx ls --filter label=k=v,status=running,image=web` (repeatable), checked here so a
// mistake names the flag; `sbx prune` forgets terminated sandboxes.
import { type Command, InvalidArgumentError } from "commander";
import { labelProblem, MAX_LABELS, type SandboxStatus } from "@sbx-sh/protocol";
import type { ListSandboxesOptions } from "@sbx-sh/sdk";
import { globalsOf, withClient } from "../context.js";
import { readWhole } from "../option-numbers.js";
import { printJson, printLines } from "../output.js";

const STATUSES: readonly SandboxStatus[] = ["pending", "running", "suspended", "terminated"];

/** `--label KEY=VALUE`, repeatable. */
export function parseLabel(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = value.indexOf("=");
  if (eq <= 0) throw new InvalidArgumentError(`expected KEY=VALUE, got ${JSON.stringify(value)}`);
  const [k, v] = [value.slice(0, eq), value.slice(eq + 1)];
  const problem = labelProblem(k, v);
  if (problem) throw new InvalidArgumentError(problem);
  const next = { ...previous, [k]: v };
  if (Object.keys(next).length > MAX_LABELS) throw new InvalidArgumentError(`at most ${MAX_LABELS} labels`);
  return next;
}

/** `--filter label=k=v,status=running,image=x`, repeatable; answers the list options it adds up to. */
export function parseFilter(value: string, previous: ListSandboxesOptions = {}): ListSandboxesOptions {
  const next: ListSandboxesOptions = {
    ...previous,
    labels: [...((previous.labels as string[] | undefined) ?? [])],
    status: [...((previous.status as SandboxStatus[] | undefined) ?? [])],
  };
  for (const part of value.split(",").filter(Boolean)) {
    const eq = part.indexOf("=");
    const [key, v] = eq < 0 ? [part, ""] : [part.slice(0, eq), part.slice(eq + 1)];
    if (key === "label") {
      const k = v.split("=")[0] ?? "";
      if (!v || labelProblem(k, v.slice(k.length + 1)))
        throw new InvalidArgumentError(`label filter ${JSON.stringify(v)}: expected label=KEY or label=KEY=VALUE`);
      (next.labels as string[]).push(v);
    } else if (key === "status") {
      if (!STATUSES.includes(v as SandboxStatus))
        throw new InvalidArgumentError(`status filter ${JSON.stringify(v)}: one of ${STATUSES.join(", ")}`);
      (next.status as SandboxStatus[]).push(v as SandboxStatus);
    } else if (key === "image") {
      if (!v) throw new InvalidArgumentError("image filter: expected image=NAME");
      next.image = v;
    } else
      throw new InvalidArgumentError(
        `unknown filter ${JSON.stringify(key)}: use label=KEY[=VALUE], status=STATUS or image=NAME`,
      );
  }
  return next;
}

export function registerPruneCommand(program: Command): void {
  program
    .command("prune")
    .description("forget terminated sandboxes now (the daemon forgets them after its retention, default 24 h)")
    .option("--older-than <seconds>", "only those terminated at least this long ago", (v: string) =>
      readWhole(v, 0, "whole seconds"),
    )
    .option("-q, --quiet", "print only ids")
    .addHelpText(
      "after",
      `
Examples:
  $ sbx prune
  $ sbx prune --older-than 3600 --json | jq length`,
    )
    .action(async (o: { olderThan?: number }, cmd: Command) => {
      const g = globalsOf(cmd);
      await withClient(cmd, async (client) => {
        const gone = await client.prune({ olderThanSecs: o.olderThan });
        if (g.json) printJson(gone);
        else printLines(gone.map((s) => s.id));
      });
    });
}
