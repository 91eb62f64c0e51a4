// What each command prints, so --json and -q mean the same everywhere: most commands print objects
// (--json for the objects, -q for their ids only); a few print reports (--json, no ids); and some
// stream a program's own bytes, where --json cannot apply and is refused rather than ignored.
import type { Command } from "commander";
import { SbxError } from "@sbx-sh/protocol";
import { printIdsOnly } from "./output.js";

/** Commands whose stdout is a program's or a log's own bytes: --json is refused. */
export const STREAM_COMMANDS: ReadonlySet<string> = new Set(["run", "shell", "logs", "image logs", "completion"]);

/** Commands that print one report, not objects with ids: --json, no -q. */
export const REPORT_COMMANDS: ReadonlySet<string> = new Set([
  "cp",
  "doctor",
  "version",
  "daemon start",
  "daemon stop",
  "daemon status",
  "image export",
  // --json prints where it listens (one object, so a script can read the local port), then it runs.
  "tunnel",
]);

/** `image ls`, `ls`: the command's names from below the root. */
export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(" ");
}

/**
 * Gives an object command that has no -q of its own a generic one (its --json objects, printed as
 * ids), and refuses --json where it cannot apply. Call on every command after they are all built.
 */
export function applyOutputKind(cmd: Command): void {
  const path = commandPath(cmd);
  const hasAction = (cmd as unknown as { _actionHandler: unknown })._actionHandler != null;
  if (!hasAction || STREAM_COMMANDS.has(path) || REPORT_COMMANDS.has(path) || path === "exec") return;
  if (cmd.options.some((o) => o.short === "-q")) return;
  cmd.option("-q, --quiet", "print only ids");
  cmd.hook("preAction", (_self, action) => {
    if (!action.opts<{ quiet?: boolean }>().quiet) return;
    printIdsOnly();
    action.setOptionValue("json", true);
  });
}

/** A preAction check for the whole program: --json on a streaming command is an error, not a no-op. */
export function refuseJsonWhereMeaningless(_self: Command, action: Command): void {
  const path = commandPath(action);
  const o = action.optsWithGlobals<{ json?: boolean; detach?: boolean }>();
  if (!o.json) return;
  if (STREAM_COMMANDS.has(path) || (path === "exec" && !o.detach))
    throw new SbxError(
      "invalid_argument",
      `--json: \`sbx ${path}\` prints ${path === "exec" ? "the command's own output (with -d it prints the process as JSON)" : "a stream of output, not objects"}`,
    );
}
