// Validation errors from the daemon name API fields (`memoryMb`); a CLI user typed flags
// (`--memory`). For the commands that build a sandbox request from flags, the field names in the
// message are replaced by the flags that set them.
import { SbxError } from "@sbx-sh/protocol";
import { CliFailure } from "./output.js";

const SANDBOX_FLAGS: Record<string, string> = {
  memoryMb: "--memory",
  diskMb: "--disk",
  pidsLimit: "--pids",
  timeoutSecs: "--timeout",
  cpus: "--cpus",
  allowOut: "--allow-out",
  denyOut: "--deny-out",
  allowInternetAccess: "--no-internet",
  env: "--env",
  labels: "--label",
  snapshotId: "--snapshot",
  image: "--image",
  name: "--name",
};

/** Commands whose requests come from the sandbox flags. */
const SANDBOX_COMMANDS = new Set(["new", "create", "run", "update"]);

/** `err` with flag names instead of field names when `command` builds its request from flags. */
export function withFlagNames(err: unknown, command: string | undefined): unknown {
  if (!command || !SANDBOX_COMMANDS.has(command)) return err;
  const inner = err instanceof CliFailure ? err.original : err;
  if (!(inner instanceof SbxError) || (inner.code !== "invalid_argument" && inner.code !== "out_of_range")) return err;
  if (!inner.message.startsWith("invalid request: ")) return err;
  const fields = Object.keys(SANDBOX_FLAGS).join("|");
  // Field paths are what precede ": " in each issue (`memoryMb: Too big`, `labels.team: ...`).
  const message = inner.message.replace(
    new RegExp(`(^invalid request: |; )(${fields})((?:\\.[^:;]*)?): `, "g"),
    (_m, lead: string, field: string, rest: string) =>
      `${lead}${SANDBOX_FLAGS[field]}${rest ? ` (${rest.slice(1)})` : ""}: `,
  );
  const renamed = new SbxError(inner.code, message, inner.details, { cause: inner });
  return err instanceof CliFailure ? new CliFailure(renamed, err.exitCode) : renamed;
}

/** The command word of an argument list (`new` in `--host x new --cpus 2`). */
export function commandWord(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (["--host", "--project", "--context", "--ca"].includes(a)) i++;
    else if (!a.startsWith("-")) return a;
  }
  return undefined;
}
