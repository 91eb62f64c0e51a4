// The `sbx` command line: builds the commander program from the command groups and turns whatever
// a command throws into an exit code (the launcher, bin/sbx.js, calls main()).
import { Command, CommanderError } from "commander";
import { VERSION } from "@sbx-sh/protocol";
import { commandWordOf, registerGroups } from "./command-groups.js";
import { takeDeferredExtraCaCerts } from "./config.js";
import { withGlobals } from "./context.js";
import { trustExtraCaCerts } from "./extra-ca-certs.js";
import { applyOutputKind, refuseJsonWhereMeaningless } from "./output-kinds.js";
import { commandWord, withFlagNames } from "./flag-names.js";
import { CliExit, CliFailure, EXIT_SBX_FAILED, printError, progress, stdoutGone } from "./output.js";

const EXIT_BROKEN_PIPE = 141;

/**
 * The commander program; with `args`, only the commands that run needs (see command-groups.ts), else
 * every command.
 */
export async function buildProgram(args?: readonly string[]): Promise<Command> {
  const program = new Command("sbx")
    .description("sbx: self-hosted sandboxes for AI agents and untrusted code")
    .version(VERSION, "-v, --version", "print the version of sbx")
    .enablePositionalOptions()
    .showHelpAfterError("(run with --help for usage)")
    .configureHelp({ sortSubcommands: false })
    .exitOverride();
  withGlobals(program);
  await registerGroups(program, args);
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
  // First: the processes any command starts get NODE_EXTRA_CA_CERTS as the user set it.
  const extraCaCerts = takeDeferredExtraCaCerts();
  if (extraCaCerts) trustExtraCaCerts(extraCaCerts, (message) => progress(`warning: ${message}`));
  guardBrokenPipe();
  const program = await buildProgram(args);
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
  const word = commandWordOf(args);
  return word === "exec" || word === "run" || word === "shell";
}
