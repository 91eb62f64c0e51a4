// Running commands: `sbx exec` (in an existing sandbox) and `sbx run` (in a fresh one that is
// terminated afterwards). Both stream output live and exit with the command's own code; sbx's own
// failures exit 125, as docker does.
import { once } from "node:events";
import type { Command } from "commander";
import { SbxError } from "@sbx-sh/protocol";
import { SandboxProcess, type OutputChunk, Sandbox, type ProcessOptions } from "@sbx-sh/sdk/core";
import { exitStatus } from "@sbx-sh/sdk/internal";
import { clientFor, globalsOf, parseEnvPair } from "../context.js";
import { parsePositiveInt } from "../option-numbers.js";
import { asSbxFailure, CliExit, progress, stdoutGone } from "../output.js";
import { addSandboxFlags, createRequest, type SandboxFlags } from "./sandbox-flags.js";
import { imageProgram } from "./image-program.js";

export const EXIT_INTERRUPTED = 130;

interface ProcessFlags {
  detach?: boolean;
  interactive?: boolean;
  tty?: boolean;
  env?: Record<string, string>;
  workdir?: string;
  user?: string;
  timeout?: number;
}

function addProcessFlags(cmd: Command, envFlag: boolean): Command {
  cmd.option("-i, --interactive", "send this terminal's stdin to the command (EOF closes it)");
  cmd.option(
    "-t, --tty",
    "run the command on a terminal sized like yours (with -i: keys go raw, Ctrl-] d detaches; stdin must be a TTY)",
  );
  if (envFlag) cmd.option("-e, --env <KEY=VALUE>", "environment variable (repeatable)", parseEnvPair);
  return cmd
    .option("-w, --workdir <dir>", "working directory inside the sandbox")
    .option("-u, --user <user>", "root, a uid, or uid:gid")
    .option("--timeout <seconds>", "kill the command after this many seconds", parsePositiveInt)
    .passThroughOptions();
}

/** Commander keeps a `--` that follows the first operand; it separates sbx's flags from the command's. */
function commandLine(words: string[]): [string, string[]] {
  const argv = words[0] === "--" ? words.slice(1) : words;
  const [command, ...args] = argv;
  if (!command)
    throw new SbxError("invalid_argument", "no command given: put it after --, e.g. `sbx exec <id> -- ls -la`");
  return [command, args];
}

async function write(stream: NodeJS.WriteStream, data: Buffer): Promise<void> {
  if (stream === process.stdout && stdoutGone.signal.aborted) return;
  // Respect backpressure so `sbx exec ... | slow-consumer` does not buffer everything in memory;
  // a reader that goes away never drains, hence the abort.
  if (!stream.write(data)) await once(stream, "drain", { signal: stdoutGone.signal }).catch(() => undefined);
}

/** Copies output events to this terminal and returns the exit status. */
async function relay(events: AsyncIterable<OutputChunk | { type: "started" }>, timeout?: number): Promise<number> {
  for await (const ev of events) {
    if (ev.type === "stdout") await write(process.stdout, ev.data);
    else if (ev.type === "stderr") await write(process.stderr, ev.data);
    else if (ev.type === "exit") {
      if (ev.timedOut) progress(`sbx: the command was killed after its ${timeout ? `${timeout}s ` : ""}timeout`);
      return exitStatus(ev);
    }
  }
  throw new SbxError("internal", "the output stream ended before the command exited (connection to sbxd lost?)");
}

export interface Attach {
  /** Aborts the output stream (the CLI gives up on the command). */
  signal: AbortSignal;
  /** Called once the process exists, so Ctrl-C can be forwarded to it. */
  onProcess?: (p: SandboxProcess) => void;
}

/** Runs a command attached to this terminal; answers its exit status. */
export async function runAttached(
  sb: Sandbox,
  command: string,
  args: string[],
  o: ProcessFlags,
  attach: Attach,
): Promise<number> {
  if (o.tty) {
    if (o.timeout !== undefined)
      throw new SbxError("invalid_argument", "--timeout does not apply to -t: a terminal runs until its program exits");
    // Terminal code (stty through child_process, the WebSocket client) loads only for -t.
    const { runInTerminal } = await import("./shell.js");
    return runInTerminal(sb, command, args, o, attach.signal);
  }
  const popts: ProcessOptions = { args, env: o.env, workingDir: o.workdir, user: o.user, timeout: o.timeout };
  if (!o.interactive) {
    const events = async function* () {
      for await (const ev of sb.exec(command, { ...popts, signal: attach.signal })) {
        if (ev.type === "started")
          attach.onProcess?.(new SandboxProcess(sb.client.transport, sb.id, ev.process.id, ev.process));
        yield ev;
      }
    };
    return relay(events(), o.timeout);
  }
  const proc = await sb.startProcess(command, { ...popts, stdin: true });
  attach.onProcess?.(proc);
  let exited = false;
  void (async () => {
    for await (const chunk of process.stdin) {
      if (exited) return;
      await proc.writeStdin(chunk as Buffer);
    }
    if (!exited) await proc.closeStdin();
  })().catch((err: unknown) => {
    // Writes racing the exit fail by design; anything else is worth a line.
    if (!exited) progress(`sbx: stdin: ${err instanceof Error ? err.message : String(err)}`);
  });
  try {
    return await relay(proc.output({ follow: true, signal: attach.signal }), o.timeout);
  } finally {
    exited = true;
    // Stop reading the terminal so the CLI can exit while the user has not typed EOF.
    process.stdin.destroy();
  }
}

/** Signals that stop the CLI; their handlers are removed when the command ends. */
const STOP_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/** Calls `handler` on Ctrl-C and friends, and with SIGPIPE when our stdout's reader has gone away. */
export function onStopSignals(handler: (sig: NodeJS.Signals) => void): () => void {
  const onGone = () => handler("SIGPIPE");
  for (const s of STOP_SIGNALS) process.on(s, handler);
  stdoutGone.signal.addEventListener("abort", onGone, { once: true });
  return () => {
    for (const s of STOP_SIGNALS) process.off(s, handler);
    stdoutGone.signal.removeEventListener("abort", onGone);
  };
}

export function registerExecCommands(program: Command): void {
  const exec = program
    .command("exec")
    .description("run a command in a sandbox, streaming its output; exits with its code");
  addProcessFlags(exec, true)
    .option("-d, --detach", "start the command in the background and print its process id (see sbx ps/logs/kill)")
    .argument("<id>", "sandbox id or name")
    .argument("<command...>", "the command and its arguments (after --)")
    .addHelpText(
      "after",
      `
Ctrl-C is sent to the command as SIGINT; a second Ctrl-C detaches (the command keeps running).

Examples:
  $ sbx exec sb-3f9k2 -- ls -la /
  $ sbx exec sb-3f9k2 -- sh -c 'echo $HOME && exit 3'; echo $?      # 3
  $ sbx exec -e DEBUG=1 -w /app --timeout 60 build-box -- make test
  $ echo 'echo $((2 + 2))' | sbx exec -i sb-3f9k2 -- sh
  $ sbx exec -i sb-3f9k2 -- sh                                        # type commands, Ctrl-D ends
  $ sbx exec -it sb-3f9k2 -- bash                                     # a real terminal (see sbx shell)
  $ sbx exec -t sb-3f9k2 -- top                                       # output only; Ctrl-C reaches top
  $ pid=$(sbx exec -d sb-3f9k2 -- sleep 300)                          # background; sbx logs/kill $pid

-t gives the command a terminal of its own (size, resize, colors); with -i your keys go to it raw
and stdin must be a terminal (-it with piped input fails: use -i alone). Ctrl-] d detaches.`,
    )
    .action(async (id: string, words: string[], o: ProcessFlags, cmd: Command) => {
      if (o.detach) {
        if (o.interactive || o.tty) cmd.error("error: -d/--detach runs in the background: it goes without -i and -t");
        const [command, args] = commandLine(words);
        const { startDetached } = await import("./processes.js");
        return startDetached(cmd, id, command, args, o).catch((err: unknown) => {
          throw asSbxFailure(err);
        });
      }
      const abort = new AbortController();
      let proc: SandboxProcess | undefined;
      let pending: NodeJS.Signals | undefined;
      let interrupts = 0;
      const forward = (p: SandboxProcess, sig: NodeJS.Signals): Promise<unknown> =>
        p.signal(sig).catch(() => undefined);
      const off = onStopSignals((sig) => {
        interrupts++;
        if (sig === "SIGPIPE") {
          // Like a local pipeline: the writer gets SIGPIPE, and nobody is left to read what follows.
          // Stop following only once the signal is delivered, or we may exit before sending it.
          if (proc) void forward(proc, sig).finally(() => abort.abort());
          else abort.abort();
          return;
        }
        if (interrupts === 1) {
          // Before the process exists the signal waits for it, so an early Ctrl-C is not lost.
          if (proc) void forward(proc, sig);
          else pending = sig;
          return;
        }
        if (proc) progress(`sbx: detached; process ${proc.id} may still be running in ${id}`);
        abort.abort();
      });
      let client;
      try {
        const [command, args] = commandLine(words);
        client = await clientFor(cmd);
        const sb = await Sandbox.connect(id, client);
        const code = await runAttached(sb, command, args, o, {
          signal: abort.signal,
          onProcess: (p) => {
            proc = p;
            if (pending) void forward(p, pending);
          },
        });
        throw new CliExit(code);
      } catch (err) {
        if (abort.signal.aborted) throw new CliExit(EXIT_INTERRUPTED);
        throw asSbxFailure(err);
      } finally {
        off();
        await client?.close().catch(() => undefined);
      }
    });

  const run = program
    .command("run")
    .description("run a command in a new sandbox, then terminate it; exits with the command's code");
  addProcessFlags(addSandboxFlags(run), false)
    .option("-k, --keep", "keep the sandbox (print its id on stderr) instead of terminating it")
    .argument("[command...]", "the command and its arguments (after --); default: the image's ENTRYPOINT + CMD")
    .addHelpText(
      "after",
      `
Without a command, the image's own program (its ENTRYPOINT and CMD) runs in the foreground.
The sandbox is terminated when the command ends, also on Ctrl-C (unless --keep). It lives at
most the daemon's default sandbox timeout (600 s), or --timeout + 60 s.

Examples:
  $ sbx run -- uname -a
  $ sbx run -- sh -c 'cat /etc/os-release'
  $ sbx run --image data-tools -- python3 -c 'print("hi")'     # an image of yours that has python3
  $ sbx run --no-internet --memory 256 -e N=3 -- sh -c 'seq $N'
  $ cat script.sh | sbx run -i -- sh`,
    )
    .action(async (words: string[], o: ProcessFlags & SandboxFlags & { keep?: boolean }, cmd: Command) => {
      const g = globalsOf(cmd);
      const abort = new AbortController();
      let sb: Sandbox | undefined;
      const off = onStopSignals((sig) => {
        if (!abort.signal.aborted && sig !== "SIGPIPE")
          progress(
            sb
              ? `sbx: interrupted; terminating ${sb.id}`
              : "sbx: interrupted; terminating the sandbox once it has started",
          );
        abort.abort();
      });
      let client;
      try {
        const ownProgram = words.filter((w) => w !== "--").length === 0;
        client = await clientFor(cmd);
        // Creation is never aborted half-way: the sandbox would start anyway and nobody would know its id.
        // The sandbox must outlive the command's own timeout; without one the daemon's default applies.
        sb = await Sandbox.create(
          {
            ...createRequest({ ...o, timeout: o.timeout !== undefined ? o.timeout + 60 : undefined }),
            noEntrypoint: true,
          },
          client,
        );
        if (o.keep || g.debug) progress(`sbx: sandbox ${sb.id}`);
        const [command, args] = ownProgram ? await imageProgram(client, sb) : commandLine(words);
        if (abort.signal.aborted) throw new CliExit(EXIT_INTERRUPTED);
        const code = await runAttached(sb, command, args, o, { signal: abort.signal });
        throw new CliExit(code);
      } catch (err) {
        if (abort.signal.aborted) throw new CliExit(EXIT_INTERRUPTED);
        throw asSbxFailure(err);
      } finally {
        if (sb && !o.keep)
          await sb
            .terminate()
            .catch((err: unknown) =>
              progress(`sbx: could not terminate ${sb?.id}: ${err instanceof Error ? err.message : String(err)}`),
            );
        off();
        await client?.close().catch(() => undefined);
      }
    });
}
