// The `sbx` command line: builds the commander program from the command groups and turns whatever
// a command throws into an exit code (the launcher, bin/sbx.js, calls main()).
import { Command, CommanderError } from "commander";
import { VERSION } from "@sbx-sh/protocol";
import { registerCpCommand } from "./commands/cp.js";
import { registerDaemonCommands } from "./commands/daemon.js";
import { registerDoctorCommand } from "./commands/doctor.js";
import { registerExecCommands } from "./commands/exec.js";
import { registerImageCommands } from "./commands/image.js";
import { registerPortCommands } from "./commands/ports.js";
import { registerPoolCommands } from "./commands/pool.js";
import { registerImageOciCommands } from "./commands/image-oci.js";
import { registerImageRegisterCommand, registerSnapshotCommands } from "./commands/snapshot.js";
import { registerSandboxCommands } from "./commands/sandboxes.js";
import { registerShellCommands } from "./commands/shell.js";
import { registerVersionCommand } from "./commands/version.js";
import { registerNodeCommands } from "./commands/nodes.js";
import { registerProjectCommands } from "./commands/projects.js";
import { registerContextCommands } from "./commands/contexts.js";
import { registerProcessCommands } from "./commands/processes.js";
import { registerPruneCommand } from "./commands/labels.js";
import { registerCompletionCommand } from "./commands/completion.js";
import { registerEventsCommand } from "./commands/events.js";
import { registerStatsCommand } from "./commands/stats.js";
import { registerTopCommand } from "./commands/top.js";
import { registerVolumeCommands } from "./commands/volumes.js";
import { withGlobals } from "./context.js";
import { applyOutputKind, refuseJsonWhereMeaningless } from "./output-kinds.js";
import { commandWord, withFlagNames } from "./flag-names.js";
import { CliExit, CliFailure, EXIT_SBX_FAILED, printError, stdoutGone } from "./output.js";

const EXIT_BROKEN_PIPE = 141;

export function buildProgram(): Command {
  const program = new Command("sbx")
    .description("sbx: self-hosted sandboxes for AI agents and untrusted code")
    .version(VERSION, "-v, --version", "print the version of sbx")
    .enablePositionalOptions()
    .showHelpAfterError("(run with --help for usage)")
    .configureHelp({ sortSubcommands: false })
    .exitOverride();
  withGlobals(program);
  registerSandboxCommands(program);
  registerExecCommands(program);
  registerProcessCommands(program);
  registerPruneCommand(program);
  registerShellCommands(program);
  registerCpCommand(program);
  registerImageCommands(program);
  registerSnapshotCommands(program);
  registerPortCommands(program);
  registerPoolCommands(program);
  const image = program.commands.find((c) => c.name() === "image");
  if (image) registerImageRegisterCommand(image);
  if (image) registerImageOciCommands(image);
  registerNodeCommands(program);
  registerProjectCommands(program);
  registerContextCommands(program);
  registerEventsCommand(program);
  registerStatsCommand(program);
  registerTopCommand(program);
  registerVolumeCommands(program);
  registerDaemonCommands(program);
  registerDoctorCommand(program);
  registerVersionCommand(program);
  registerCompletionCommand(program);
  program.addHelpText(
    "after",
    `
Environment:
  SBX_HOST     daemon address (default unix:///run/sbx/sbxd.sock)
  SBX_TOKEN    bearer token for a TCP host
  SBX_PROJECT  project (default: default)

Examples:
  $ id=$(sbx new)                             # debian-minimal: 1 CPU, 1 GB, 10 minutes
  $ sbx exec $id -- sh -c 'echo $((6 * 7))'
  $ sbx cp ./src $id:/app
  $ sbx rm $id
  $ sbx run -- uname -a                       # create, run, terminate
  $ sbx image create image.ts                 # build the image image.ts defines
  $ sbx new --image data-tools`,
  );
  // Errors raised while parsing inherit exitOverride, so every command returns here.
  for (const cmd of program.commands) inherit(cmd);
  program.hook("preAction", refuseJsonWhereMeaningless);
  return program;
}

/** Every command takes the global options (added last, so help lists its own options first). */
function inherit(cmd: Command): void {
  applyOutputKind(cmd);
  withGlobals(cmd).exitOverride().showHelpAfterError("(run with --help for usage)");
  for (const sub of cmd.commands) inherit(sub);
}

let pipeGuarded = false;

/**
 * `sbx exec ... | head -1`: a reader that went away ends us as SIGPIPE would (exit 141), without a
 * stack trace, after exec/run have had a moment to clean up (see stdoutGone).
 */
function guardBrokenPipe(): void {
  if (pipeGuarded) return;
  pipeGuarded = true;
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code !== "EPIPE" && err.code !== "ERR_STREAM_DESTROYED") throw err;
    if (stdoutGone.signal.aborted) return;
    stdoutGone.abort();
    setTimeout(() => process.exit(EXIT_BROKEN_PIPE), 5000).unref();
  });
}

/** Runs the CLI on `args` (without node and script) and answers the exit code. */
export async function main(args: string[]): Promise<number> {
  guardBrokenPipe();
  const program = buildProgram();
  try {
    await program.parseAsync(args, { from: "user" });
    return stdoutGone.signal.aborted ? EXIT_BROKEN_PIPE : 0;
  } catch (err) {
    if (stdoutGone.signal.aborted) return EXIT_BROKEN_PIPE;
    if (err instanceof CliExit) return err.exitCode;
    // Commander has already printed its own message (usage errors, --help, --version).
    if (err instanceof CommanderError)
      return err.exitCode !== 0 && runsUserCommand(args) ? EXIT_SBX_FAILED : err.exitCode;
    const shown = withFlagNames(err, commandWord(args));
    printError(shown, program.opts<{ debug?: boolean }>().debug || args.includes("--debug"));
    return shown instanceof CliFailure ? shown.exitCode : 1;
  }
}

/** exec, run and shell keep exit codes below 125 for the user's command, so their usage errors are 125 too. */
function runsUserCommand(args: string[]): boolean {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--host" || a === "--project" || a === "--context" || a === "--ca") i++;
    else if (!a.startsWith("-")) return a === "exec" || a === "run" || a === "shell";
  }
  return false;
}
