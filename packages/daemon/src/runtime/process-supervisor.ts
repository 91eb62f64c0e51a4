// Runs sandbox processes so that they outlive the daemon: each one is `crun exec` under a tiny
// host-side `sh` supervisor in its own session. Output goes straight to files and the exit code
// is written atomically to a file, so a restarted daemon finds both where it left them.
import { spawn } from "node:child_process";
import { constants, existsSync, openSync, closeSync, fstatSync, readSync, statfsSync, writeSync } from "node:fs";
import { open, readFile, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { mustRun } from "../common/command.js";
import { SbxError } from "@sbx-sh/protocol";
import type { Crun, ExecOptions } from "./crun.js";

// "$@" is `crun exec ...`. The exit file is written to a temp name and renamed so a reader never
// sees half a number.
const SUPERVISOR = `"$@" <"$SBX_IN" >"$SBX_OUT" 2>"$SBX_ERR"
echo $? >"$SBX_EXIT.tmp" && mv -f "$SBX_EXIT.tmp" "$SBX_EXIT"`;

export interface ProcessFiles {
  stdout: string;
  stderr: string;
  exit: string;
  pid: string;
  stdin: string;
}

export function processFiles(logDir: string, stateDir: string, procId: string): ProcessFiles {
  // Ids become file names: never a path of their own.
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(procId)) throw new SbxError("invalid_argument", `invalid process id ${procId}`);
  return {
    stdout: join(logDir, `${procId}.out`),
    stderr: join(logDir, `${procId}.err`),
    exit: join(stateDir, `${procId}.exit`),
    pid: join(stateDir, `${procId}.pid`),
    stdin: join(stateDir, `${procId}.stdin`),
  };
}

export interface LaunchedProcess {
  /** Resolves when the supervisor ends (this daemon's lifetime only). */
  exited: Promise<void>;
  /** Write end of the stdin fifo, when stdin was requested. */
  stdinFd: number | null;
}

export async function launchProcess(
  crun: Crun,
  sandboxId: string,
  argv: string[],
  exec: ExecOptions,
  files: ProcessFiles,
  withStdin: boolean,
): Promise<LaunchedProcess> {
  // The output files exist before this returns (the supervisor only opens them later), so the
  // process can be attached to at once; the supervisor's `>` truncates what is empty anyway.
  for (const f of [files.stdout, files.stderr]) await (await open(f, "a", 0o644)).close();
  let stdinFd: number | null = null;
  if (withStdin) {
    await mustRun("mkfifo", ["-m", "0600", files.stdin]);
    // Opened read-write so this open does not block, and so the reader sees EOF only when we close it.
    stdinFd = openSync(files.stdin, constants.O_RDWR | constants.O_NONBLOCK);
  }
  const crunArgs = crun.execArgv(sandboxId, argv, { ...exec, pidFile: files.pid });
  const child = spawn("/bin/sh", ["-c", SUPERVISOR, "sbx-supervisor", crun.binary, ...crunArgs], {
    detached: true,
    stdio: "ignore",
    env: {
      PATH: "/usr/sbin:/usr/bin:/sbin:/bin",
      SBX_IN: withStdin ? files.stdin : "/dev/null",
      SBX_OUT: files.stdout,
      SBX_ERR: files.stderr,
      SBX_EXIT: files.exit,
    },
  });
  child.unref();
  const exited = new Promise<void>((resolve) => {
    child.on("exit", () => resolve());
    child.on("error", () => resolve());
  });
  return { exited, stdinFd };
}

export async function writeStdin(fd: number, data: Buffer): Promise<void> {
  let off = 0;
  while (off < data.length) {
    try {
      off += writeSync(fd, data, off);
    } catch (err) {
      // The pipe is full (64 KiB) and non-blocking: the process is not reading yet; back off briefly.
      if ((err as NodeJS.ErrnoException).code !== "EAGAIN") throw err;
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

export function closeStdin(fd: number): void {
  closeSync(fd);
}

/** The exit code the supervisor recorded, or undefined while the process runs. */
export async function readExitCode(files: ProcessFiles): Promise<number | undefined> {
  const text = await readFile(files.exit, "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  const code = Number(text.trim());
  if (!Number.isInteger(code)) return undefined;
  if (code === 255) {
    // crun's own failure to start the command: map to the shell's conventions (127 not found, 126 not executable).
    const tail = await readTail(files.stderr, 512);
    if (/executable file .* not found/.test(tail)) return 127;
    if (/permission denied|EACCES/i.test(tail)) return 126;
  }
  return code;
}

/** The host pid of the process (crun writes it when the process starts), waiting up to `waitMs`. */
export async function readHostPid(files: ProcessFiles, waitMs = 2000): Promise<number | undefined> {
  const until = Date.now() + waitMs;
  for (;;) {
    const text = await readFile(files.pid, "utf8").catch(() => "");
    const pid = Number(text.trim());
    if (text && Number.isInteger(pid) && pid > 1) return pid;
    if (Date.now() > until) return undefined;
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Whether anything of the process is on disk: it was started (its output may have been discarded since). */
export function processExists(files: ProcessFiles): boolean {
  return [files.exit, files.pid, files.stdout].some((f) => existsSync(f));
}

/**
 * Whether `pid` is still a process of the sandbox's cgroup (guards against pid reuse): one of its
 * cgroup paths has the sandbox's id as a whole component, under whatever parent the daemon was
 * given (--cgroup-parent). Ids are unique and random, so no other cgroup carries one.
 */
export async function pidBelongsTo(pid: number, sandboxId: string): Promise<boolean> {
  return cgroupsName(await readFile(`/proc/${pid}/cgroup`, "utf8").catch(() => ""), sandboxId);
}

/** Whether a /proc/<pid>/cgroup text has `id` as a whole component of one of its paths. */
export function cgroupsName(procCgroup: string, id: string): boolean {
  // Each line is `hierarchy:controllers:path`; the path may hold colons itself.
  return procCgroup.split("\n").some((line) => `${line.split(":").slice(2).join(":")}/`.includes(`/${id}/`));
}

/**
 * Reads `[offset, offset+max)` of an output file without following symlinks. The sandbox can write
 * the log dir (its agent does): a fifo or device in a file's place must neither block nor be read.
 * The logs are a tmpfs, so every step here is a memory operation: done synchronously, as four
 * thread-pool round trips per stream and poll cost a follower more than the reads themselves.
 * Only the bytes the file holds are allocated (most reads find nothing new).
 */
export async function readChunk(path: string, offset: number, max = 1 << 20): Promise<Buffer> {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return Buffer.alloc(0);
    if (code === "ELOOP") throw new SbxError("runtime_error", `process output ${path} was replaced by a link`);
    throw err;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new SbxError("runtime_error", `process output ${path} is not a file`);
    const want = Math.min(max, st.size - offset);
    if (want <= 0) return Buffer.alloc(0);
    // Only the part read is handed out: the rest of an unsafe buffer never leaves here.
    const buf = Buffer.allocUnsafe(want);
    return buf.subarray(0, readSync(fd, buf, 0, want, offset));
  } finally {
    closeSync(fd);
  }
}

async function readTail(path: string, bytes: number): Promise<string> {
  const size = (await stat(path).catch(() => undefined))?.size ?? 0;
  return (await readChunk(path, Math.max(0, size - bytes), bytes)).toString("utf8");
}

/** How full the output logs' filesystem (a small tmpfs of the sandbox) is, from 0 to 1. */
export async function logsUsage(logDir: string): Promise<number> {
  // A tmpfs answers at once: no thread-pool round trip before every process start.
  const s = statfsSync(logDir);
  return s.blocks === 0 ? 0 : 1 - s.bfree / s.blocks;
}

/** Deletes the output of one process; its exit code stays. */
export async function discardOutput(files: ProcessFiles): Promise<void> {
  await removeFiles([files.stdout, files.stderr]);
}

/** Deletes every file of an ended process: output, exit code, pid, stdin fifo, and `more` (e.g. an agent's exit file). */
export async function forgetProcessFiles(files: ProcessFiles, more: string[] = []): Promise<void> {
  await removeFiles([files.stdout, files.stderr, files.exit, files.pid, files.stdin, ...more]);
}

/**
 * Best effort, and never through a link (unlink removes the link itself). The sandbox can write the
 * log dir: whatever it put in a file's place (a directory) is its own and stays, and must not stop
 * the retention of the files around it.
 */
async function removeFiles(paths: string[]): Promise<void> {
  await Promise.all(paths.map((p) => unlink(p).catch(() => undefined)));
}
