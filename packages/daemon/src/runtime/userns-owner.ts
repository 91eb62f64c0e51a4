// A sandbox's user namespace owned by the sandbox's own base uid (sbx-userns, native/sbx-userns.c),
// for crun to join through `linux.namespaces[{type: "user", path}]` instead of creating one as root.
// Why: the kernel charges inotify instances/watches and POSIX mqueue bytes per (user namespace, uid)
// at every level up to the initial namespace, and one level above a sandbox it charges the uid that
// owns the sandbox's namespace. Created by crun, that owner is root for every sandbox, so one
// sandbox could take root's whole budget from every other sandbox and from host root (F3).
//
// The holder process only has to live until `crun create` has put the sandbox's init into the
// namespace: from then on the sandbox's processes keep it alive, `crun exec` joins through the
// init's pid, and nothing needs the holder again (so a daemon restart has nothing to re-create).
import { spawn, type ChildProcess } from "node:child_process";
import { SbxError } from "@sbx-sh/protocol";

const READY_TIMEOUT_MS = 10_000;

export class UsernsOwner {
  private constructor(
    private readonly child: ChildProcess,
    /** Pid of the process inside the namespace (its root side is `child`). */
    readonly pid: number,
  ) {}

  /** The path crun joins: the namespace of the holder, alive until `release()`. */
  get path(): string {
    return `/proc/${this.pid}/ns/user`;
  }

  /** A new user namespace owned by host uid `base`, mapping 0..count-1 inside to base..base+count-1. */
  static async create(helper: string, base: number, count: number): Promise<UsernsOwner> {
    const child = spawn(helper, [String(base), String(count)], { stdio: ["pipe", "pipe", "pipe"] });
    // Its stdin is only ever closed; a holder that already died must not crash the daemon.
    child.stdin!.on("error", () => undefined);
    const fail = (why: string): SbxError =>
      new SbxError("runtime_error", `could not make the sandbox's user namespace (${helper}): ${why}`);
    try {
      const pid = await new Promise<number>((resolve, reject) => {
        let out = "";
        let err = "";
        const timer = setTimeout(() => reject(fail("no answer")), READY_TIMEOUT_MS);
        child.on("error", (e) => reject(fail(e.message)));
        child.stderr!.on("data", (d: Buffer) => (err = (err + d.toString("utf8")).slice(0, 4096)));
        child.stdout!.on("data", (d: Buffer) => {
          out += d.toString("utf8");
          const m = /^(\d+)\n/.exec(out);
          if (m) {
            clearTimeout(timer);
            resolve(Number(m[1]));
          }
        });
        child.on("exit", (code) => {
          clearTimeout(timer);
          reject(fail(err.trim() || `exit ${code}`));
        });
      });
      return new UsernsOwner(child, pid);
    } catch (e) {
      child.kill("SIGKILL");
      throw e;
    }
  }

  /** Ends the holder (closing its stdin); the namespace lives on in the sandbox's processes. */
  release(): void {
    this.child.stdin?.end();
    this.child.stdout?.destroy();
    this.child.stderr?.destroy();
  }
}
