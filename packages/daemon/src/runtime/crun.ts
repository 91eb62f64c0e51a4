// A thin wrapper over the crun command line, with sbx's own state root so we never see or touch
// containers of other tools. Knows crun's quirks: create holds the caller's stdio open, so its
// stdio goes to a log file; exec's --env replaces the whole environment.
import { openSync, closeSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { spawn } from "node:child_process";
import type { Readable } from "node:stream";
import { runCommand, type CommandResult } from "../common/command.js";
import { SbxError } from "@sbx-sh/protocol";

export interface ExecOptions {
  env: string[];
  cwd: string;
  user: string;
  pidFile?: string;
  /** Give the process a terminal of its own inside the sandbox (crun relays it to our stdio, which must be a tty). */
  tty?: boolean;
}

export class Crun {
  constructor(
    readonly root: string,
    readonly binary = "crun",
  ) {}

  private base(): string[] {
    return ["--root", this.root];
  }

  /**
   * Creates the container (namespaces, mounts, cgroups) and returns its init's host pid. The init
   * waits for `start()` unless `start` is set, which runs it at once (`crun run --detach`: one call).
   */
  async create(
    id: string,
    bundle: string,
    pidFile: string,
    logFile: string,
    opts: { start?: boolean } = {},
  ): Promise<number> {
    const log = openSync(logFile, "a", 0o600);
    try {
      const code = await new Promise<number>((resolve, reject) => {
        const verb = opts.start ? ["run", "--detach"] : ["create"];
        const child = spawn(this.binary, [...this.base(), ...verb, "--bundle", bundle, "--pid-file", pidFile, id], {
          stdio: ["ignore", log, log],
          detached: true,
        });
        child.on("error", reject);
        // 'exit', not 'close': the container's init inherits crun's stdio and keeps it open.
        child.on("exit", (c) => resolve(c ?? 1));
      });
      if (code !== 0) {
        const tail = (await readFile(logFile, "utf8").catch(() => "")).trim().split("\n").slice(-3).join(" | ");
        throw new SbxError("runtime_error", `crun could not create the sandbox: ${tail || `exit ${code}`}`);
      }
    } finally {
      closeSync(log);
    }
    return Number((await readFile(pidFile, "utf8")).trim());
  }

  async start(id: string): Promise<void> {
    const r = await runCommand(this.binary, [...this.base(), "start", id]);
    if (r.code !== 0) throw new SbxError("runtime_error", `crun could not start the sandbox: ${r.stderr.trim()}`);
  }

  /**
   * Waits until the container's init has called execve. `crun start` and `run --detach` return
   * before it has, and until then `crun exec` can fail with "setns(pid=…, CLONE_*): Operation not
   * permitted" (crun before 1.9, containers/crun#1264; Debian 12 ships 1.8.1): under load about
   * one build in ten failed that way on its first step. Before execve the init is still crun.
   */
  async untilInitExecs(pid: number, timeoutMs = 10_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      // Gone counts as done: whoever runs the next command reports a dead sandbox better.
      const comm = await readFile(`/proc/${pid}/comm`, "utf8").catch(() => "");
      if (comm.trim() !== "crun") return;
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** The container's status as crun sees it, or undefined when crun does not know it. */
  async state(id: string): Promise<{ status: string; pid: number } | undefined> {
    const r = await runCommand(this.binary, [...this.base(), "state", id]);
    if (r.code !== 0) return undefined;
    const s = JSON.parse(r.stdout.toString("utf8")) as { status: string; pid: number };
    return { status: s.status, pid: s.pid };
  }

  /** Kills every process of the container and removes it; quiet when it is already gone. */
  async delete(id: string): Promise<void> {
    const r = await runCommand(this.binary, [...this.base(), "delete", "--force", id]);
    if (r.code !== 0 && !/does not exist|No such file/i.test(r.stderr)) {
      throw new SbxError("runtime_error", `crun could not delete ${id}: ${r.stderr.trim()}`);
    }
  }

  async list(): Promise<string[]> {
    const r = await runCommand(this.binary, [...this.base(), "list", "-q"]);
    if (r.code !== 0) return [];
    return r.stdout.toString("utf8").split("\n").filter(Boolean);
  }

  /** argv for `crun exec`, to run under a supervisor or directly. */
  execArgv(id: string, argv: string[], o: ExecOptions): string[] {
    const args = [...this.base(), "exec", "--no-new-privs", "--cwd", o.cwd, "--user", o.user];
    if (o.pidFile) args.push("--pid-file", o.pidFile);
    if (o.tty) args.push("--tty");
    for (const e of o.env) args.push("--env", e);
    args.push(id, ...argv);
    return args;
  }

  /** Runs a short helper command inside the container and collects its output. */
  exec(
    id: string,
    argv: string[],
    o: ExecOptions & { input?: Buffer | Readable; timeoutMs?: number; maxStdoutBytes?: number },
  ): Promise<CommandResult> {
    return runCommand(this.binary, this.execArgv(id, argv, o), {
      input: o.input,
      timeoutMs: o.timeoutMs ?? 120_000,
      maxStdoutBytes: o.maxStdoutBytes,
    });
  }
}
