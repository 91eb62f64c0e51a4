// The seccomp profile every sandbox runs under. A deny list on top of Docker's capability set:
// the syscalls Docker's default profile refuses to containers without CAP_SYS_ADMIN & co, plus
// creating user namespaces (the largest kernel attack surface an unprivileged process can reach)
// and io_uring. clone3 answers ENOSYS so libc falls back to clone(), whose flags we can filter.

const EPERM = 1;
const ENOSYS = 38;
const CLONE_NEWUSER = 0x10000000;

const DENIED = [
  "acct",
  "add_key",
  "bpf",
  "clock_adjtime",
  "clock_settime",
  "create_module",
  "delete_module",
  "finit_module",
  "fsconfig",
  "fsmount",
  "fsopen",
  "fspick",
  "get_kernel_syms",
  "get_mempolicy",
  "init_module",
  "io_uring_enter",
  "io_uring_register",
  "io_uring_setup",
  "ioperm",
  "iopl",
  "kexec_file_load",
  "kexec_load",
  "keyctl",
  "lookup_dcookie",
  "mbind",
  "mount",
  "mount_setattr",
  "move_mount",
  "move_pages",
  "name_to_handle_at",
  "nfsservctl",
  "open_by_handle_at",
  "open_tree",
  "perf_event_open",
  "pivot_root",
  "process_vm_readv",
  "process_vm_writev",
  "quotactl",
  "quotactl_fd",
  "reboot",
  "request_key",
  "set_mempolicy",
  "setns",
  "settimeofday",
  "stime",
  "swapoff",
  "swapon",
  "syslog",
  "umount",
  "umount2",
  "uselib",
  "userfaultfd",
  "ustat",
  "vhangup",
  "vm86",
  "vm86old",
  "_sysctl",
  "fanotify_init",
  "kcmp",
  "pidfd_getfd",
];

export interface SeccompProfile {
  defaultAction: string;
  architectures: string[];
  syscalls: Array<{
    names: string[];
    action: string;
    errnoRet?: number;
    args?: Array<{ index: number; value: number; valueTwo?: number; op: string }>;
  }>;
}

/** `allowMount` is for images that boot systemd, which mounts its own /run, /sys/fs/cgroup etc. */
export function sandboxSeccompProfile(opts: { allowMount?: boolean } = {}): SeccompProfile {
  const mountCalls = new Set([
    "mount",
    "umount",
    "umount2",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "move_mount",
    "open_tree",
    "mount_setattr",
    "pivot_root",
    "setns",
  ]);
  const denied = DENIED.filter((n) => !(opts.allowMount && mountCalls.has(n)));
  return {
    defaultAction: "SCMP_ACT_ALLOW",
    architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    syscalls: [
      { names: denied, action: "SCMP_ACT_ERRNO", errnoRet: EPERM },
      { names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: ENOSYS },
      {
        names: ["clone"],
        action: "SCMP_ACT_ERRNO",
        errnoRet: EPERM,
        args: [{ index: 0, value: CLONE_NEWUSER, valueTwo: CLONE_NEWUSER, op: "SCMP_CMP_MASKED_EQ" }],
      },
      {
        names: ["unshare"],
        action: "SCMP_ACT_ERRNO",
        errnoRet: EPERM,
        args: [{ index: 0, value: CLONE_NEWUSER, valueTwo: CLONE_NEWUSER, op: "SCMP_CMP_MASKED_EQ" }],
      },
    ],
  };
}
