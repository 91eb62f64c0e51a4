// Interactive terminals from the command line: `sbx shell` (a shell, or any command, on a terminal
// in a sandbox; --attach to come back to one), `sbx terminals` (list them), and the terminal side
// of `sbx exec -t`. The local terminal goes raw, so every key (Ctrl-C too) reaches the program.
import { spawnSync } from "node:child_process";
import type { Command } from "commander";
import { SbxError } from "@sbx-sh/protocol";
import { Sandbox } from "@sbx-sh/sdk/core";
import type { Terminal } from "@sbx-sh/sdk";
import { terminalType } from "../config.js";
import { clientFor, globalsOf, parseEnvPair } from "../context.js";
import { ago, asSbxFailure, CliExit, formatTable, printJson, printLines, progress } from "../output.js";

/** Ctrl-] starts a key sequence: `d` detaches, a second Ctrl-] sends one, anything else is sent as typed. */
const ESCAPE = 0x1d;
const LEAVE_SIGNALS = ["SIGTERM", "SIGHUP"] as const;

export interface TerminalFlags {
  env?: Record<string, string>;
  workdir?: string;
  user?: string;
  /** Send this terminal's keys to the program (always, for `sbx shell`). */
  interactive?: boolean;
}

/** Runs stty on our terminal; answers its output, or undefined when it failed (a few tries: the machine may be busy). */
function stty(args: string[]): string | undefined {
  for (let tries = 0; tries < 3; tries++) {
    const r = spawnSync("stty", args, { stdio: ["inherit", "pipe", "ignore"], encoding: "utf8" });
    if (r.status === 0) return r.stdout.trim();
  }
  return undefined;
}

/**
 * Puts our terminal in raw mode and answers its settings before. stty's raw rather than Node's
 * setRawMode: that one keeps output post-processing (\n → \r\n), which the sandbox's terminal has
 * already done, and full-screen programs that turn it off inside would be drawn askew.
 */
function rawMode(): string {
  const saved = stty(["-g"]);
  if (!saved || stty(["raw", "-echo"]) === undefined)
    throw new SbxError("internal", "could not put this terminal in raw mode (stty failed)");
  return saved;
}

function localSize(): { cols: number; rows: number } {
  const out = process.stdout;
  return out.isTTY && out.columns > 0 && out.rows > 0 ? { cols: out.columns, rows: out.rows } : { cols: 80, rows: 24 };
}

/** Raw keys need a terminal to read them from; piped input is what `exec -i` without -t is for. */
function assertTerminalInput(what: string): void {
  if (!process.stdin.isTTY) {
    throw new SbxError(
      "invalid_argument",
      `${what} needs a terminal on stdin, and stdin is not a TTY: to pipe input, use \`sbx exec -i <id> -- <command>\` without -t`,
    );
  }
}

/** Opens a terminal in `sb` sized like this one, runs `command` (default: a shell) there, attached. */
export async function runInTerminal(
  sb: Sandbox,
  command: string | undefined,
  args: string[],
  o: TerminalFlags,
  signal?: AbortSignal,
): Promise<number> {
  if (o.interactive) assertTerminalInput("-t with -i");
  const term = await sb.createTerminal({
    command,
    args,
    ...localSize(),
    // The program draws for the terminal the user really has.
    env: { ...(terminalType() ? { TERM: terminalType()! } : {}), ...o.env },
    workingDir: o.workdir,
    user: o.user,
  });
  return attachHere(term, sb.name ?? sb.id, o.interactive === true, signal);
}

/**
 * Wires this terminal to `term` until its program exits (its exit code), the user detaches
 * (Ctrl-] d; 0), or `signal` aborts (detach). Without `input`, Ctrl-C is still passed on.
 */
export async function attachHere(
  term: Terminal,
  sandboxRef: string,
  input: boolean,
  signal?: AbortSignal,
): Promise<number> {
  const stdin = process.stdin;
  const raw = input && stdin.isTTY;
  let escaped = false;
  const onKeys = (chunk: Buffer): void => {
    const out: number[] = [];
    for (const b of chunk) {
      if (escaped) {
        escaped = false;
        if (b === 0x64 /* d */) {
          if (out.length) term.write(Buffer.from(out));
          void term.detach();
          return;
        }
        if (b !== ESCAPE) out.push(ESCAPE);
        out.push(b);
      } else if (b === ESCAPE) escaped = true;
      else out.push(b);
    }
    if (out.length) term.write(Buffer.from(out));
  };
  const onResize = (): void => {
    const { cols, rows } = localSize();
    term.resize(cols, rows);
  };
  const onInterrupt = (): void => term.write("\x03");
  const onAbort = (): void => void term.detach();

  // Raw before the first byte is shown: output written in cooked mode gets its \n → \r\n twice.
  let saved: string | undefined;
  if (raw) {
    try {
      saved = rawMode();
    } catch (err) {
      await term.detach();
      throw err;
    }
    stdin.on("data", onKeys);
    stdin.resume();
  } else {
    process.on("SIGINT", onInterrupt);
  }
  term.onData((d) => process.stdout.write(d));
  process.stdout.on("resize", onResize);
  signal?.addEventListener("abort", onAbort, { once: true });
  // Whatever ends the CLI leaves the terminal running and this one as it was.
  for (const sig of LEAVE_SIGNALS) process.on(sig, onAbort);
  let detached = false;
  try {
    return await term.wait();
  } catch (err) {
    if (!(err instanceof SbxError && err.code === "failed_precondition")) throw err;
    detached = true;
    return 0;
  } finally {
    process.stdout.off("resize", onResize);
    signal?.removeEventListener("abort", onAbort);
    process.off("SIGINT", onInterrupt);
    for (const sig of LEAVE_SIGNALS) process.off(sig, onAbort);
    if (raw) {
      stdin.off("data", onKeys);
      if (saved) stty([saved]);
      // Stop reading the terminal so the CLI can exit.
      stdin.destroy();
    }
    if (detached)
      progress(
        `\nsbx: detached; terminal ${term.id} keeps running: attach again with \`sbx shell ${sandboxRef} --attach ${term.id}\``,
      );
  }
}

export function registerShellCommands(program: Command): void {
  program
    .command("shell")
    .description("open an interactive terminal (a shell by default) in a sandbox; exits with the program's code")
    .argument("<id>", "sandbox id or name")
    .argument("[command...]", "program to run instead of the shell (after --)")
    .option("-e, --env <KEY=VALUE>", "environment variable (repeatable)", parseEnvPair)
    .option("-w, --workdir <dir>", "working directory inside the sandbox")
    .option("-u, --user <user>", "root, a uid, uid:gid, or a user name")
    .option(
      "-a, --attach <terminalId>",
      "attach again to a terminal that is still running (its recent output is replayed)",
    )
    .addHelpText(
      "after",
      `
The terminal is sized like yours and follows it; every key goes to the program (Ctrl-C too).
Ctrl-] then d detaches: the program keeps running in the sandbox and --attach brings you back
(the daemon keeps its last 64 KiB of output). Ctrl-] Ctrl-] sends one Ctrl-]. A terminal ends
when its program exits, when the sandbox ends, or when the daemon stops. stdin must be a
terminal: to pipe input, use \`sbx exec -i\`.

Examples:
  $ sbx shell sb-3f9k2
  $ sbx shell -u 1000 -w /tmp sb-3f9k2 -- bash
  $ sbx terminals sb-3f9k2                         # what is running, and its ids
  $ sbx shell sb-3f9k2 --attach tm-8x2kq0c1d9aa`,
    )
    .action(async (id: string, words: string[], o: TerminalFlags & { attach?: string }, cmd: Command) => {
      const argv = words[0] === "--" ? words.slice(1) : words;
      let client;
      try {
        assertTerminalInput("sbx shell");
        client = await clientFor(cmd);
        if (o.attach) {
          if (argv.length)
            throw new SbxError("invalid_argument", "--attach takes no command: the terminal already runs one");
          throw new CliExit(await attachHere(await client.attachTerminal(id, o.attach), id, true));
        }
        const sb = await Sandbox.connect(id, client);
        throw new CliExit(await runInTerminal(sb, argv[0], argv.slice(1), { ...o, interactive: true }));
      } catch (err) {
        throw asSbxFailure(err);
      } finally {
        await client?.close().catch(() => undefined);
      }
    });

  program
    .command("terminals")
    .description("list the terminals of a sandbox (running ones, and those that exited in the last minutes)")
    .argument("<id>", "sandbox id or name")
    .option("-q, --quiet", "print only the ids of running terminals")
    .action(async (id: string, o: { quiet?: boolean }, cmd: Command) => {
      const g = globalsOf(cmd);
      const client = await clientFor(cmd);
      try {
        const list = await (await Sandbox.connect(id, client)).listTerminals();
        if (g.json) return printJson(list);
        if (o.quiet) return printLines(list.filter((t) => t.status === "running").map((t) => t.id));
        const rows = list.map((t) => [
          t.id,
          t.status === "running" ? "running" : `exited (${t.exitCode})`,
          `${t.cols}x${t.rows}`,
          String(t.attached),
          ago(t.createdAt),
          [t.command, ...t.args].join(" "),
        ]);
        process.stdout.write(`${formatTable(["ID", "STATUS", "SIZE", "ATTACHED", "CREATED", "COMMAND"], rows)}\n`);
      } finally {
        await client.close().catch(() => undefined);
      }
    });
}
