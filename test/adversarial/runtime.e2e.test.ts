// Attacks on the runtime from inside a real sandbox: syscalls that administer the kernel or regain
// capabilities (mount, unshare, modules, keyctl, bpf, perf, userfaultfd, mknod, raw devices),
// /proc and /sys writes, cgroup escapes, chroot climbing, setuid binaries, processes outside the
// sandbox, other sandboxes through /proc, and overwriting the runtime through /proc/<pid>/exe
// (CVE-2019-5736). Each asserts the kernel's refusal and that the host and a second sandbox are
// untouched. isolation.e2e.test.ts already covers caps/seccomp/no_new_privs in /proc/self/status.
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Sandbox } from "@sbx-sh/sdk";
import { useSandboxes } from "../fixtures.js";
import { HostCanary, installProbe, results, sh } from "./kit.js";

const sandbox = useSandboxes();
let sb: Sandbox;
let other: Sandbox;
const canary = new HostCanary("runtime");
const otherMarker = `victim-${process.pid}-${Date.now()}`;

beforeAll(async () => {
  [sb, other] = await Promise.all([sandbox(), sandbox()]);
  await installProbe(sb);
  await other.writeFile("/victim/secret.txt", otherMarker);
  // A long-lived process in the other sandbox, whose /proc/<pid>/root would lead to its files.
  await other.startProcess("sleep", { args: ["600"] });
});

afterAll(async () => {
  // The host canary and the other sandbox's file survive every attack of this file.
  canary.check();
  canary.remove();
  expect((await other.readFile("/victim/secret.txt")).toString()).toBe(otherMarker);
});

// What the kernel answers each attempt. Absence (ENOENT) counts as refusal: the file the attack
// needs does not exist in the sandbox's view.
const REFUSED: Record<string, string[]> = {
  mount_proc: ["EPERM"],
  mount_sysfs: ["EPERM"],
  mount_tmpfs: ["EPERM"],
  remount_root_rw: ["EPERM"],
  remount_proc_rw: ["EPERM"],
  umount_proc: ["EPERM"],
  umount_busybox: ["EPERM"],
  fsopen: ["EPERM"],
  open_tree: ["EPERM"],
  pivot_root: ["EPERM"],
  unshare_user: ["EPERM"],
  unshare_mnt: ["EPERM"],
  unshare_user_mnt: ["EPERM"],
  unshare_cgroup: ["EPERM"],
  clone3: ["ENOSYS"],
  setns: ["EPERM"],
  init_module: ["EPERM"],
  finit_module: ["EPERM"],
  delete_module: ["EPERM"],
  keyctl: ["EPERM"],
  add_key: ["EPERM"],
  bpf: ["EPERM"],
  perf_event_open: ["EPERM"],
  userfaultfd: ["EPERM"],
  io_uring_setup: ["EPERM"],
  open_by_handle_at: ["EPERM"],
  kexec_load: ["EPERM"],
  reboot: ["EPERM"],
  iopl: ["EPERM"],
  sethostname: ["EPERM"],
  settimeofday: ["EPERM"],
  mknod_block: ["EPERM"],
  mknod_mem: ["EPERM"],
  mknod_kmsg: ["EPERM"],
  open_dev_sda: ["ENOENT"],
  open_dev_vda: ["ENOENT"],
  open_dev_mem: ["ENOENT"],
  open_dev_kmsg: ["ENOENT"],
  write_core_pattern: ["EACCES", "EROFS"],
  write_sysrq: ["ENOENT", "EROFS", "EACCES"],
  write_modprobe: ["ENOENT", "EROFS", "EACCES"],
  write_uevent_helper: ["ENOENT", "EROFS", "EACCES"],
  write_sys_class: ["EROFS"],
  write_busybox: ["EACCES", "EROFS"],
  write_init: ["EACCES", "EROFS"],
  write_proc1_exe: ["EACCES", "EROFS"],
  write_self_exe: ["ETXTBSY"],
};

describe("runtime attacks", () => {
  it("every kernel-administering or capability-regaining syscall is refused", async () => {
    const r = await sb.run("/probe", { args: ["syscalls"] });
    const got = results(r.stdout);
    for (const [name, allowed] of Object.entries(REFUSED))
      expect(allowed, `${name} answered ${got[name]}`).toContain(got[name]);
    // Not even the sandbox's own init can be traced: sbx-agent is not dumpable (it would stop, and its socket leak).
    expect(got.ptrace_attach_init).toBe("EPERM");
    // No block device or raw memory node exists to open, and the fifo-less /dev has no host devices.
    expect(
      (await sh(sb, "ls /dev")).stdout.split("\n").filter((n) => /^(sd|vd|nvme|mem|kmem|port|loop)/.test(n)),
    ).toEqual([]);
  });

  it("cannot see, signal or trace a process outside its pid namespace", async () => {
    const hostPid =
      process.pid > 1000 ? process.pid : Number(execFileSync("sh", ["-c", "sleep 30 & echo $!"]).toString());
    const got = results((await sb.run("/probe", { args: ["hostpid", String(hostPid)] })).stdout);
    expect(got.kill_host_pid).toBe("ESRCH");
    expect(got.ptrace_host_pid).toBe("ESRCH");
    expect((await sh(sb, "cat /proc/1/cmdline | tr '\\0' ' '")).stdout).toContain("/.sbx/agent");
  });

  it("reaches no other sandbox's files through /proc/<pid>/root, cwd or fd", async () => {
    const r = await sh(
      sb,
      `grep -rls ${otherMarker} /proc/[0-9]*/root/victim /proc/[0-9]*/cwd/victim /proc/[0-9]*/fd/ 2>/dev/null; ls -d /proc/[0-9]*/root/victim 2>&1; echo done`,
    );
    expect(r.stdout).not.toContain("secret.txt");
    expect(r.stdout).toContain("No such file");
    expect(r.stdout).toContain("done");
  });

  it("cannot write /proc/sys, /sys or any cgroup file, nor leave its cgroup", async () => {
    const files =
      "/proc/sys/kernel/core_pattern /proc/sys/kernel/hostname /proc/sys/vm/drop_caches /sys/kernel/mm/transparent_hugepage/enabled /sys/fs/cgroup/cgroup.procs /sys/fs/cgroup/*/cgroup.procs /sys/fs/cgroup/*/release_agent /sys/fs/cgroup/*/notify_on_release /sys/fs/cgroup/*/tasks /sys/fs/cgroup/../cgroup.procs";
    const r = await sh(
      sb,
      `for f in ${files}; do [ -e "$f" ] || continue; if echo 1 > "$f" 2>/dev/null; then echo "WROTE $f"; else echo "refused $f"; fi; done; cat /proc/self/cgroup`,
    );
    expect(r.stdout).not.toContain("WROTE");
    expect(r.stdout).toMatch(/refused \/proc\/sys\/kernel\/core_pattern/);
    expect(r.stdout).toMatch(/refused \/sys\/fs\/cgroup\/.*cgroup\.procs/);
    // The cgroup namespace roots its view at its own cgroup: there is no parent to move into.
    for (const line of r.stdout.split("\n").filter((l) => /^\d+:/.test(l)))
      expect(line.endsWith(":/"), line).toBe(true);
    expect(readFileSync("/proc/sys/kernel/core_pattern", "utf8")).not.toBe("1\n");
  });

  it("climbing out of a chroot lands in the sandbox's own root, not the host's", async () => {
    await sb.writeFile("/sandbox-only-marker", "inside");
    const r = await sb.run("/probe", { args: ["chroot"] });
    expect(r.stdout).toContain("chroot_jail OK");
    expect(r.stdout).toContain("chroot_dot OK");
    // After the climb, /proc/1 is still the sandbox's init (sbx-agent) and the host's canary is nowhere.
    expect(r.stdout).toContain("/.sbx/agent");
    const after = await sh(sb, `cat /sandbox-only-marker; ls ${canary.dir} 2>&1`);
    expect(after.stdout).toContain("inside");
    expect(after.stdout).toContain("No such file");
  });

  it("a setuid-root binary gives an unprivileged user nothing (no_new_privs)", async () => {
    await sh(sb, "cp /probe /tmp/suid-probe && chown 0:0 /tmp/suid-probe && chmod 4755 /tmp/suid-probe");
    expect((await sh(sb, "stat -c %a /tmp/suid-probe")).stdout.trim()).toBe("4755");
    const r = await sb.run("/tmp/suid-probe", { args: ["ids"], user: "1000" });
    expect(r.stdout.trim()).toBe("uid 1000 euid 1000");
  });

  it("cannot overwrite the runtime through /proc/<pid>/exe of a crun exec process (CVE-2019-5736)", async () => {
    const crun = execFileSync("sh", ["-c", "command -v crun"]).toString().trim();
    const before = createHash("sha256").update(readFileSync(crun)).digest("hex");
    const watch = sb.run("/probe", { args: ["exe-watch", "8"], timeout: 60 });
    // Meanwhile, many `crun exec`s enter the sandbox: each one is a chance to catch the runtime.
    const until = Date.now() + 6000;
    let execs = 0;
    while (Date.now() < until) {
      await Promise.all([sb.run("true"), sb.readFile("/sandbox-only-marker").catch(() => undefined)]);
      execs += 2;
    }
    const report = (await watch).stdout;
    const m = /opened_wr (\d+) wrote (\d+)/.exec(report);
    expect(m, report).not.toBeNull();
    expect(Number(m![1]), report).toBe(0);
    expect(Number(m![2]), report).toBe(0);
    expect(execs).toBeGreaterThan(0);
    expect(createHash("sha256").update(readFileSync(crun)).digest("hex")).toBe(before);
    // The sandbox still works: the runtime it execs through is intact.
    expect((await sb.run("echo", { args: ["ok"] })).stdout).toBe("ok\n");
  });
});
