// Builds the OCI config.json crun runs a sandbox from: namespaces, id maps, cgroup limits,
// capabilities, seccomp, masked paths and the read-only helper binaries under /.sbx.
import { inodesFor } from "../layers/overlay.js";
import { sandboxSeccompProfile } from "./seccomp.js";
import { HELPER_BUSYBOX, HELPER_DIR } from "./types.js";
import { agentInit, agentMountEntries, type AgentMounts } from "./agent/agent-mounts.js";

export const INIT_PATH = `${HELPER_DIR}/init`;

/** Docker's default capability set: enough for apt and package scripts, nothing that administers the host. */
export const DEFAULT_CAPABILITIES = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FSETID",
  "CAP_FOWNER",
  "CAP_MKNOD",
  "CAP_NET_RAW",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETFCAP",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_KILL",
  "CAP_AUDIT_WRITE",
];

export interface OciConfigInput {
  id: string;
  rootfs: string;
  hostname: string;
  /** PID 1 of the sandbox; by default catatonit in pause mode: it reaps orphans and never exits, even on `kill -9 -1`. */
  init?: string[];
  env: string[];
  cwd: string;
  uidBase: number;
  uidCount: number;
  cpus: number;
  memoryMb: number;
  pidsLimit: number;
  /** Swap is capped at the memory limit when the host accounts for swap (cgroup v1 memsw). */
  limitSwap: boolean;
  nofile: number;
  cgroupsPath: string;
  initPath: string;
  busyboxPath: string;
  /** Size of the /.sbx tmpfs (build contexts are unpacked there); the sandbox's disk cap. */
  helperDirMb?: number;
  resolvConf?: string;
  systemd?: boolean;
  hostIds?: boolean;
  /** sbx-agent as PID 1 instead of `initPath` (not with systemd or a custom init): see ./agent/agent-mounts.ts. */
  agent?: AgentMounts;
  /** Volumes: host dirs (idmapped clones in the sandbox's dir) bound at `destination`. */
  volumes?: Array<{ source: string; destination: string; readOnly: boolean }>;
  /** Combined trust-store bundles bind-mounted read-only over the image's (./host-ca.ts). */
  trustMounts?: Array<{ destination: string; source: string }>;
  /**
   * An existing user namespace (owned by the sandbox's base uid: ./userns-owner.ts) to join, not create.
   * Its maps equal uidMappings/gidMappings, which stay in the spec as the description of the sandbox's
   * ids: crun 1.8.1 accepts both together and writes no maps into a namespace it joins.
   */
  userNamespacePath?: string;
  /** An existing network namespace to join (made by the user namespace's holder, veth already in it), not create. */
  networkNamespacePath?: string;
}

const MASKED_PATHS = [
  "/proc/acpi",
  "/proc/asound",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/sys/firmware",
  "/sys/devices/virtual/powercap",
];
/** /dev and /dev/shm are 64 MiB tmpfs the sandbox can write: one inode per 4 KiB, like the disk. */
const DEV_INODES = 16384;
/**
 * ptys one sandbox may hold at once (devpts `max=`, per instance: every sandbox mounts its own). The
 * kernel's kernel.pty.max (4096) is machine-wide and only the host's own devpts keeps a reserve (1024),
 * so without a cap one sandbox could take all ~3000 others and leave every other sandbox none. 256 is
 * far above what a shell, tmux and sbx's own terminals (16 per sandbox, opened in this devpts) need.
 */
export const PTYS_PER_SANDBOX = 256;
const READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

export function buildOciConfig(c: OciConfigInput): Record<string, unknown> {
  const memoryBytes = c.memoryMb * 1024 * 1024;
  const mounts: Array<Record<string, unknown>> = [
    { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
    {
      destination: "/dev",
      type: "tmpfs",
      source: "tmpfs",
      options: ["nosuid", "strictatime", "mode=755", "size=65536k", `nr_inodes=${DEV_INODES}`],
    },
    {
      destination: "/dev/pts",
      type: "devpts",
      source: "devpts",
      options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5", `max=${PTYS_PER_SANDBOX}`],
    },
    {
      destination: "/dev/shm",
      type: "tmpfs",
      source: "shm",
      options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k", `nr_inodes=${DEV_INODES}`],
    },
    { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
    { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
    {
      destination: "/sys/fs/cgroup",
      type: "cgroup",
      source: "cgroup",
      options: ["nosuid", "noexec", "nodev", "relatime", c.systemd ? "rw" : "ro"],
    },
    // /.sbx is a mount point of its own, so the sandbox cannot rename it away and put a link or its
    // own "busybox" in its place for the daemon's next helper (a directory that merely holds mount
    // points can be renamed). Build contexts are unpacked here too, hence writable and disk-sized.
    {
      destination: HELPER_DIR,
      type: "tmpfs",
      source: "tmpfs",
      options: [
        "nosuid",
        "nodev",
        "mode=755",
        `size=${c.helperDirMb ?? 64}m`,
        `nr_inodes=${inodesFor(c.helperDirMb ?? 64)}`,
      ],
    },
    { destination: INIT_PATH, type: "bind", source: c.initPath, options: ["bind", "ro", "nosuid", "nodev"] },
    { destination: HELPER_BUSYBOX, type: "bind", source: c.busyboxPath, options: ["bind", "ro", "nosuid", "nodev"] },
  ];
  const agent = c.agent && !c.systemd && !c.init ? c.agent : undefined;
  if (agent) mounts.push(...agentMountEntries(agent));
  for (const t of c.trustMounts ?? [])
    mounts.push({
      destination: t.destination,
      type: "bind",
      source: t.source,
      options: ["bind", "ro", "nosuid", "nodev", "noexec"],
    });
  if (c.resolvConf)
    mounts.push({
      destination: "/etc/resolv.conf",
      type: "bind",
      source: c.resolvConf,
      options: ["bind", "ro", "nosuid", "nodev", "noexec"],
    });
  for (const v of c.volumes ?? [])
    mounts.push({
      destination: v.destination,
      type: "bind",
      source: v.source,
      options: ["bind", "nosuid", "nodev", ...(v.readOnly ? ["ro"] : [])],
    });
  if (c.systemd) {
    for (const d of ["/run", "/run/lock", "/tmp"])
      mounts.push({ destination: d, type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "mode=1777"] });
  }

  const idMap = [{ containerID: 0, hostID: c.uidBase, size: c.uidCount }];
  const userns = !(c.hostIds || c.systemd);
  const init = c.init ?? (c.systemd ? ["/sbin/init"] : agent ? agentInit() : [INIT_PATH, "-P"]);
  return {
    ociVersion: "1.0.2",
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: init,
      env: c.systemd ? [...c.env, "container=sbx"] : c.env,
      cwd: c.systemd ? "/" : c.cwd,
      capabilities: {
        bounding: DEFAULT_CAPABILITIES,
        effective: DEFAULT_CAPABILITIES,
        permitted: DEFAULT_CAPABILITIES,
      },
      rlimits: [{ type: "RLIMIT_NOFILE", hard: c.nofile, soft: c.nofile }],
      noNewPrivileges: true,
    },
    root: { path: c.rootfs, readonly: false },
    hostname: c.hostname,
    mounts,
    linux: {
      ...(userns ? { uidMappings: idMap, gidMappings: idMap } : {}),
      cgroupsPath: c.cgroupsPath,
      resources: {
        memory: c.limitSwap ? { limit: memoryBytes, swap: memoryBytes } : { limit: memoryBytes },
        cpu: { quota: Math.round(c.cpus * 100_000), period: 100_000 },
        pids: { limit: c.pidsLimit },
        devices: [{ allow: false, access: "rwm" }],
      },
      namespaces: [
        { type: "pid" },
        c.networkNamespacePath ? { type: "network", path: c.networkNamespacePath } : { type: "network" },
        { type: "ipc" },
        { type: "uts" },
        { type: "mount" },
        { type: "cgroup" },
        ...(userns ? [c.userNamespacePath ? { type: "user", path: c.userNamespacePath } : { type: "user" }] : []),
      ],
      seccomp: sandboxSeccompProfile({ allowMount: c.systemd ?? false }),
      maskedPaths: MASKED_PATHS,
      readonlyPaths: READONLY_PATHS,
    },
  };
}
