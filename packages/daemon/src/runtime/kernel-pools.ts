// Takes the kernel's machine-wide pools of open files and ptys out of the way between sandboxes, so
// that what bounds a sandbox is its own limits (see docs/security.md, F3):
// - Open files have no per-user limit: a process is bounded by RLIMIT_NOFILE, a sandbox by pids x
//   nofile and, for real, by its memory cgroup (the kernel charges every `struct file` and fd table to
//   it). fs.file-max is one count on top at which everyone but init-namespace root gets ENFILE; its
//   kernel-sized default (~10% of RAM: 2.4M files on a 24 GiB host) is less than one sandbox with the
//   default 1 GiB memory can hold. systemd lifts it to LONG_MAX at boot for the same reason.
// - ptys: each sandbox's devpts instance is capped at PTYS_PER_SANDBOX (./oci-config.ts), but
//   kernel.pty.max (4096, of which 1024 are kept for the host's own devpts) is shared, so a dozen
//   sandboxes at their cap would leave the rest none. Its ceiling, NR_UNIX98_PTY_MAX, is 4096 sandboxes'
//   worth; a pty's tty structures are charged to the memory cgroup of whoever opens it.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** Each pool, under /proc/sys, and the kernel's ceiling for it. */
export const KERNEL_POOLS: ReadonlyArray<{ path: string; ceiling: bigint }> = [
  { path: "fs/file-max", ceiling: 9223372036854775807n }, // LONG_MAX
  { path: "kernel/pty/max", ceiling: 1048576n }, // NR_UNIX98_PTY_MAX
];

/** Raises each pool to its ceiling where it is lower (a write resizes nothing, it only lifts a limit). */
export async function liftKernelPools(procSys = "/proc/sys"): Promise<void> {
  for (const { path, ceiling } of KERNEL_POOLS) {
    const file = join(procSys, path);
    if (BigInt((await readFile(file, "utf8")).trim()) >= ceiling) continue;
    await writeFile(file, `${ceiling}\n`).catch((e: Error) => {
      throw new Error(`Cannot raise ${file} to ${ceiling} (one sandbox could drain it for all): ${e.message}`);
    });
  }
}
