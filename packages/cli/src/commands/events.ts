// `sbx events`: the project's event stream as it happens (like `docker events`): one line per
// event, or one JSON object per line with --json; filters by type and sandbox; resumes after an id.
import { type Command, InvalidArgumentError } from "commander";
import type { SbxEvent } from "@sbx-sh/protocol";
import { globalsOf, withClient } from "../context.js";
import { parseNonNegativeInt, parsePositiveInt } from "../option-numbers.js";
import { stdoutGone } from "../output.js";

interface EventFilters {
  type: string[];
  sandbox?: string;
}

/** `--filter type=sandbox` / `--filter sandbox=<id>`, repeatable; types accumulate. */
export function parseFilter(value: string, previous: EventFilters = { type: [] }): EventFilters {
  const m = /^(type|sandbox)=(.+)$/.exec(value);
  if (!m) throw new InvalidArgumentError(`expected type=<event type> or sandbox=<id>, got ${JSON.stringify(value)}`);
  if (m[1] === "type") return { ...previous, type: [...previous.type, ...m[2]!.split(",")] };
  return { ...previous, sandbox: m[2]! };
}

/** One line per event: time, type, subject, then the attributes as key=value (JSON-quoted strings). */
export function formatEvent(e: SbxEvent): string {
  const attrs = Object.entries(e.attributes)
    .filter(([, v]) => v !== null)
    .map(([k, v]) => `${k}=${typeof v === "string" && /[\s"=]|^$/.test(v) ? JSON.stringify(v) : String(v)}`);
  const sandbox = e.sandboxId && e.sandboxId !== e.subject ? [`sandbox=${e.sandboxId}`] : [];
  return printable([e.time, e.type, e.subject, ...sandbox, ...attrs].join(" "));
}

/** Control characters from a sandbox (a process name, a build step) must not drive the terminal. */
export function printable(text: string): string {
  return [...text].map((ch) => (ch < " " || ch === "\u007f" ? "?" : ch)).join("");
}

export function registerEventsCommand(program: Command): void {
  program
    .command("events")
    .description("follow the project's events: sandboxes, processes, builds, snapshots, images")
    .option("-f, --filter <key=value>", "type=<type or prefix> (repeatable) or sandbox=<id>", parseFilter)
    .option("--since <id>", "replay the events after this event id that the daemon still keeps", parseNonNegativeInt)
    .option("-n, --count <n>", "exit after this many events", parsePositiveInt)
    .addHelpText(
      "after",
      `
Types: sandbox.created|running|suspended|resumed|terminated, process.started|exited,
build.started|step|finished, snapshot.taken, image.registered|removed, pool.claimed|refilled.
A prefix selects a group: --filter type=sandbox.

Examples:
  $ sbx events
  $ sbx events --filter type=sandbox.terminated --json
  $ sbx events --filter type=build --filter type=image
  $ sbx events --filter sandbox=$id -n 1`,
    )
    .action(async (o: { filter?: EventFilters; since?: number; count?: number }, cmd: Command) => {
      const g = globalsOf(cmd);
      await withClient(cmd, async (client) => {
        let seen = 0;
        for await (const e of client.events({
          types: o.filter?.type,
          ...(o.filter?.sandbox ? { sandboxId: o.filter.sandbox } : {}),
          ...(o.since !== undefined ? { since: o.since } : {}),
          signal: stdoutGone.signal,
        })) {
          process.stdout.write(`${g.json ? JSON.stringify(e) : formatEvent(e)}\n`);
          if (o.count !== undefined && ++seen >= o.count) break;
        }
      });
    });
}
