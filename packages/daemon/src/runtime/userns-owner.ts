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
//
// With `net`, the holder also makes the sandbox's network namespace (owned by that user namespace,
// as crun would have made it): the daemon wires the veth into it while the sandbox's filesystem is
// still being mounted, and crun joins it through `netPath`. A sandbox that is never created takes
// the namespace, and the veth in it, down with the holder.
import { spawn, type ChildProcess } from "node:child_process";
import { SbxError } from "@sbx-sh/protocol";

const READY_TIMEOUT_MS = 10_000;
/** Helpers older than the `net` argument (they answer it with their usage line): asked without it. */
const withoutNet = new Set<string>();

export class UsernsOwner {
  private constructor(
    private readonly child: ChildProcess,
    /** Pid of the process inside the namespace (its root side is `child`). */
    readonly pid: number,
    /** Whether the holder made a network namespace of its own too. */
    private readonly net: boolean,
  ) {}

  /** The path crun joins: the namespace of the holder, alive until `release()`. */
  get path(): string {
    return `/proc/${this.pid}/ns/user`;
  }

  /** The holder's own network namespace, for crun to join; undefined when none was asked or the helper is too old. */
  get netPath(): string | undefined {
    return this.net ? `/proc/${this.pid}/ns/net` : undefined;
  }

  /**
   * A new user namespace owned by host uid `base`, mapping 0..count-1 inside to base..base+count-1;
   * with `net`, a network namespace it owns too (unless the installed helper predates that).
   */
  static async create(helper: string, base: number, count: number, opts: { net?: boolean } = {}): Promise<UsernsOwner> {
    const net = opts.net === true && !withoutNet.has(helper);
    try {
      return await UsernsOwner.start(helper, base, count, net);
    } catch (e) {
      // An sbx-userns installed before `net` existed: this sbxd still works with it (crun makes the
      // network namespace); scripts/setup-host.sh installs the current one.
      if (!net || !(e instanceof SbxError) || !/usage: sbx-userns BASE COUNT$/m.test(e.message)) throw e;
      withoutNet.add(helper);
      return UsernsOwner.start(helper, base, count, false);
    }
  }

  private static async start(helper: string, base: number, count: number, net: boolean): Promise<UsernsOwner> {
    const args = [String(base), String(count), ...(net ? ["net"] : [])];
    const child = spawn(helper, args, { stdio: ["pipe", "pipe", "pipe"] });
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
      return new UsernsOwner(child, pid, net);
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
