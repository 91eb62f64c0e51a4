// Running host programs (crun, mount, ip, nft, tar): argv arrays only, never a shell string with
// user input, stderr collected into the error, and a time limit on every call.
import { spawn, type SpawnOptions } from "node:child_process";
import { Readable, type Writable } from "node:stream";
import { noSpaceError, SbxError } from "@sbx-sh/protocol";

export interface CommandResult {
  code: number;
  stdout: Buffer;
  stderr: string;
  /** Set when the program printed more than `maxStdoutBytes` and was killed for it. */
  overflow?: boolean;
}

export interface CommandOptions {
  /** The child's stdin: bytes, or a stream piped in (e.g. a spooled upload). */
  input?: Buffer | string | Readable;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Where the child's stdin comes from when there is no `input`: by default /dev/null. */
  stdio?: SpawnOptions["stdio"];
  /** Kill the program once its stdout passes this many bytes (output we hold in memory). */
  maxStdoutBytes?: number;
}

/** Runs a program to completion and returns its exit code and output; never throws on a non-zero exit. */
export function runCommand(cmd: string, args: string[], opts: CommandOptions = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: [opts.input !== undefined ? "pipe" : "ignore", "pipe", "pipe"],
      // Without an env of their own, programs inherit the daemon's (spawn's default).
      env: opts.env,
      cwd: opts.cwd,
      timeout: opts.timeoutMs ?? 60_000,
      killSignal: "SIGKILL",
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let overflow = false;
    child.stdout?.on("data", (b: Buffer) => {
      outBytes += b.length;
      if (opts.maxStdoutBytes !== undefined && outBytes > opts.maxStdoutBytes) {
        if (!overflow) child.kill("SIGKILL");
        overflow = true;
        return;
      }
      out.push(b);
    });
    child.stderr?.on("data", (b: Buffer) => err.push(b));
    child.on("error", (e) => reject(new SbxError("runtime_error", `cannot run ${cmd}: ${e.message}`)));
    child.on("close", (code, signal) => {
      const stderr = Buffer.concat(err).toString("utf8");
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out),
        stderr: signal ? `${stderr}(killed by ${signal})` : stderr,
        overflow,
      });
    });
    // A program that exits without reading its input would otherwise crash us with EPIPE.
    child.stdin?.on("error", () => undefined);
    if (opts.input instanceof Readable) opts.input.pipe(child.stdin!);
    else if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Runs a program and throws a runtime_error carrying its stderr when it fails. */
export async function mustRun(cmd: string, args: string[], opts: CommandOptions = {}): Promise<Buffer> {
  const r = await runCommand(cmd, args, opts);
  if (r.code !== 0) {
    if (/No space left on device/.test(r.stderr))
      throw noSpaceError(`${cmd} ${args.slice(0, 3).join(" ")}: ${r.stderr.trim().split("\n").at(-1)}`);
    throw new SbxError(
      "runtime_error",
      `${cmd} ${args.slice(0, 3).join(" ")} failed (exit ${r.code}): ${r.stderr.trim().split("\n").slice(-3).join(" | ")}`,
    );
  }
  return r.stdout;
}

/** A program started with its stdin (and maybe stdout) as streams, for data that never sits whole in memory. */
export interface StreamingCommand {
  /** The program's stdin: write as you go and end() it; write errors (an early exit) are swallowed. */
  stdin: Writable;
  /** The program's stdout when `stdout: true` was asked for, else null (discarded). */
  stdout: Readable | null;
  /** Settles at exit: the exit code (128 when killed) and the last 4 KiB of stderr; rejects if it cannot start. */
  done: Promise<{ code: number; stderr: string }>;
  kill(): void;
}

/** Starts a program whose input is produced (or output consumed) while it runs; runCommand takes input whole. */
export function startCommand(
  cmd: string,
  args: string[],
  opts: { stdout?: boolean; timeoutMs?: number; cwd?: string } = {},
): StreamingCommand {
  const child = spawn(cmd, args, {
    stdio: ["pipe", opts.stdout ? "pipe" : "ignore", "pipe"],
    cwd: opts.cwd,
    timeout: opts.timeoutMs ?? 30 * 60_000,
    killSignal: "SIGKILL",
  });
  let stderr = "";
  child.stderr!.on("data", (b: Buffer) => {
    stderr += b.toString("utf8");
    if (stderr.length > 4096) stderr = stderr.slice(-4096);
  });
  child.stdin!.on("error", () => undefined);
  const done = new Promise<{ code: number; stderr: string }>((resolve, reject) => {
    child.on("error", (e) => reject(new SbxError("runtime_error", `cannot run ${cmd}: ${e.message}`)));
    child.on("close", (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stderr }));
  });
  return { stdin: child.stdin!, stdout: child.stdout, done, kill: () => void child.kill("SIGKILL") };
}
