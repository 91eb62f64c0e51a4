// Starting and stopping a local sbxd from the CLI: spawn sbxd detached with its output in a
// log file, wait until GET /v1/info answers, and stop it through its pid file.
import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import type { DaemonInfo } from "@sbx-sh/protocol";
import { SbxError } from "@sbx-sh/protocol";
import type { SandboxClient } from "@sbx-sh/sdk";
import { dataDir, runDir } from "./config.js";
import { sbxdCommand } from "./locate-daemon.js";

export function pidFilePath(): string {
  return join(runDir(), "sbxd.pid");
}

/** The first log location we can write: /var/log/sbx, then the data dir, then the user's state dir. */
function openLog(): { path: string; fd: number } {
  const candidates = [
    "/var/log/sbx/sbxd.log",
    join(dataDir() ?? "/var/lib/sbx", "sbxd.log"),
    join(homedir(), ".local/state/sbx/sbxd.log"),
  ];
  let lastErr: unknown;
  for (const path of candidates) {
    try {
      mkdirSync(dirname(path), { recursive: true });
      return { path, fd: openSync(path, "a", 0o600) };
    } catch (err) {
      lastErr = err;
    }
  }
  throw new SbxError(
    "permission_denied",
    `cannot open a log file for sbxd (${String(lastErr)}): run with sudo`,
    undefined,
    {
      cause: lastErr,
    },
  );
}

function tail(path: string, lines = 8): string {
  try {
    return readFileSync(path, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

export interface StartResult {
  alreadyRunning: boolean;
  pid: number | null;
  logPath: string | null;
  info: DaemonInfo;
}

/** Starts sbxd on the client's unix socket unless something already answers there. */
export async function startDaemon(client: SandboxClient, options: { timeoutMs?: number } = {}): Promise<StartResult> {
  try {
    return { alreadyRunning: true, pid: null, logPath: null, info: await client.info() };
  } catch (err) {
    if (!(err instanceof SbxError) || err.code !== "daemon_unavailable") throw err;
  }
  const socketPath = client.config.socketPath;
  if (!socketPath) {
    throw new SbxError(
      "invalid_argument",
      `${client.config.host} is a TCP address: sbx can only start a daemon on this host's unix socket (start sbxd there with --listen-tcp)`,
    );
  }
  const [cmd, ...pre] = sbxdCommand();
  // Always explicit: SBX_SOCKET or SBX_RUN_DIR in the environment would otherwise move the daemon elsewhere.
  const args = ["--socket", socketPath];
  const log = openLog();
  let exitCode: number | null | undefined;
  let child;
  try {
    child = spawn(cmd!, [...pre, ...args], { detached: true, stdio: ["ignore", log.fd, log.fd] });
  } finally {
    closeSync(log.fd);
  }
  child.on("exit", (code, signal) => (exitCode = code ?? (signal ? 128 : -1)));
  child.unref();
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    if (exitCode !== undefined) {
      const last = tail(log.path);
      throw new SbxError(
        "daemon_unavailable",
        `sbxd exited with code ${exitCode} right after starting${last ? `:\n${last}` : ""}\n(full log: ${log.path})`,
      );
    }
    try {
      return { alreadyRunning: false, pid: child.pid ?? null, logPath: log.path, info: await client.info() };
    } catch (err) {
      if (!(err instanceof SbxError) || (err.code !== "daemon_unavailable" && err.code !== "permission_denied"))
        throw err;
    }
  }
  throw new SbxError(
    "daemon_unavailable",
    `sbxd (pid ${child.pid}) did not answer within ${Math.round((options.timeoutMs ?? 10_000) / 1000)} s; its log is ${log.path}`,
  );
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** A pid file can outlive its daemon and the pid be reused: only signal a process that is sbxd. */
function isSbxd(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("sbxd");
  } catch {
    return false;
  }
}

export interface StopResult {
  pid: number | null;
  /** Why nothing was stopped, when nothing was. */
  note?: string;
}

/** SIGTERMs the daemon named by the pid file and waits until it is gone. */
export async function stopDaemon(options: { timeoutMs?: number; pidFile?: string } = {}): Promise<StopResult> {
  const pidFile = options.pidFile ?? pidFilePath();
  let text: string;
  try {
    text = readFileSync(pidFile, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT")
      return { pid: null, note: `sbxd is not running (no ${pidFile})` };
    throw new SbxError("permission_denied", `cannot read ${pidFile}: run with sudo`, undefined, { cause: err });
  }
  const pid = Number.parseInt(text.trim(), 10);
  if (!Number.isInteger(pid) || pid <= 1)
    throw new SbxError("failed_precondition", `${pidFile} does not hold a pid: remove it`);
  if (!alive(pid) || !isSbxd(pid))
    return { pid: null, note: `sbxd is not running (stale ${pidFile} names pid ${pid})` };
  try {
    process.kill(pid, "SIGTERM");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EPERM")
      throw new SbxError("permission_denied", `cannot signal sbxd (pid ${pid}): run with sudo`, undefined, {
        cause: err,
      });
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return { pid };
    throw err;
  }
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  while (Date.now() < deadline) {
    if (!alive(pid)) return { pid };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new SbxError(
    "failed_precondition",
    `sbxd (pid ${pid}) is still running after SIGTERM; stop it with \`kill -9 ${pid}\``,
  );
}
