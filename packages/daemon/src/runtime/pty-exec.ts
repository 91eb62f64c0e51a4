// Terminals on the host side: `crun exec --tty` under a pseudo-terminal the daemon holds (node-pty).
// crun gives the program its own /dev/pts inside the sandbox and relays bytes between it and our
// pty, but (crun 1.8) does not pass window size changes on, so resize sets the inner terminal's
// size itself; the kernel then sends SIGWINCH to the program, as a local terminal would.
import { readFile } from "node:fs/promises";
import { spawn as spawnPty } from "node-pty";
import { SbxError } from "@sbx-sh/protocol";
import type { Crun, ExecOptions } from "./crun.js";
import { pidBelongsTo, readHostPid, type ProcessFiles } from "./process-supervisor.js";
import { HELPER_BUSYBOX, type TerminalHandle } from "./types.js";

export interface PtyExecOptions extends ExecOptions {
  /** Where crun records the program's host pid (its `pid` file). */
  files: ProcessFiles;
  cols: number;
  rows: number;
}

const HOST_ENV = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" };

/** A host pid's pid inside its sandbox (the last NSpid of the kernel's own status file). */
async function sandboxPid(hostPid: number): Promise<number | undefined> {
  const status = await readFile(`/proc/${hostPid}/status`, "utf8").catch(() => "");
  const nspid = /^NSpid:\s+(.*)$/m.exec(status)?.[1]?.trim().split(/\s+/).at(-1);
  return nspid ? Number(nspid) : undefined;
}

export function openPtyExec(crun: Crun, sandboxId: string, argv: string[], o: PtyExecOptions): TerminalHandle {
  // Our end goes raw before crun starts: crun does it too, but only after the program may have
  // written (its first output would get \n → \r\n twice, and early keys be echoed here).
  const crunArgs = crun.execArgv(sandboxId, argv, {
    env: o.env,
    cwd: o.cwd,
    user: o.user,
    pidFile: o.files.pid,
    tty: true,
  });
  const pty = spawnPty("/bin/sh", ["-c", 'stty raw -echo && exec "$0" "$@"', crun.binary, ...crunArgs], {
    name: "xterm-256color",
    cols: o.cols,
    rows: o.rows,
    env: HOST_ENV,
    // Raw bytes: a UTF-8 character split across two reads must not become two replacement characters.
    encoding: null,
  });
  // crun's own "executable file not found" ends in 255; the shell's conventions say 127.
  let tail = "";
  pty.onData((d) => {
    tail = (tail + Buffer.from(d as unknown as Buffer).toString("latin1")).slice(-512);
  });
  let pid: number | undefined;
  const programPid = async (): Promise<number | undefined> => {
    pid ??= await readHostPid(o.files);
    return pid !== undefined && (await pidBelongsTo(pid, sandboxId)) ? pid : undefined;
  };

  return {
    onData: (cb) => void pty.onData((d) => cb(Buffer.from(d as unknown as Buffer))),
    onExit: (cb) =>
      void pty.onExit(({ exitCode, signal }) => {
        if (signal) return cb(128 + signal);
        if (exitCode === 255 && /executable file .* not found/.test(tail)) return cb(127);
        cb(exitCode);
      }),
    write: (data) => pty.write(data),
    async resize(cols, rows) {
      // The inner terminal first: crun passes the SIGWINCH of our own resize on to the program,
      // which must then already see the new size.
      const p = await programPid();
      const inner = p === undefined ? undefined : await sandboxPid(p);
      if (inner !== undefined) {
        // Opened inside the sandbox, as its root, through its own /proc: the program chooses its
        // fd 0, so the host must never open it. One that moved its stdin off the terminal
        // (exec </dev/null) simply keeps its size.
        const script = `case "$(readlink "$1")" in /dev/pts/*) exec ${HELPER_BUSYBOX} stty -F "$1" rows "$2" cols "$3";; esac`;
        const r = await crun.exec(
          sandboxId,
          [HELPER_BUSYBOX, "sh", "-c", script, "sh", `/proc/${inner}/fd/0`, String(rows), String(cols)],
          { env: [], cwd: "/", user: "0:0", timeoutMs: 5000 },
        );
        if (r.code !== 0) throw new SbxError("runtime_error", `could not resize the terminal: ${r.stderr.trim()}`);
      }
      pty.resize(cols, rows);
    },
    async kill() {
      const p = await programPid();
      if (p !== undefined) {
        try {
          process.kill(p, "SIGKILL");
          return;
        } catch {
          // already gone: end the relay below
        }
      }
      pty.kill("SIGKILL");
    },
  };
}
