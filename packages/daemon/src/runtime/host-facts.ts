// The small host facts the runtime needs at startup: cgroup version, NOFILE ceiling, where the
// static helpers live, and whether CRIU can take memory snapshots. `sbxd doctor` reports them too.
import { spawnSync } from "node:child_process";
import { closeSync, openSync, readFileSync, readSync, statfsSync } from "node:fs";

const CGROUP2_SUPER_MAGIC = 0x63677270;

/** 2 when /sys/fs/cgroup is the unified hierarchy, 1 for legacy and hybrid hosts. */
export function cgroupVersion(): 1 | 2 {
  try {
    return statfsSync("/sys/fs/cgroup").type === CGROUP2_SUPER_MAGIC ? 2 : 1;
  } catch {
    return 1;
  }
}

/** The hard RLIMIT_NOFILE of this process: config.json rlimits above it make crun fail without CAP_SYS_RESOURCE. */
export function hostNofileHardLimit(limitsText?: string): number {
  const text = limitsText ?? readOr("/proc/self/limits");
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(text);
  const hard = m?.[2];
  if (hard && /^\d+$/.test(hard)) return Number(hard);
  // "unlimited" cannot really happen for NOFILE; the kernel's ceiling is nr_open.
  const nrOpen = Number(readOr("/proc/sys/fs/nr_open").trim());
  return Number.isInteger(nrOpen) && nrOpen > 0 ? nrOpen : 1024;
}

/** True for an ELF executable with no program interpreter, i.e. one that runs in an image without a libc. */
export function isStaticElf(path: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    const h = Buffer.alloc(64);
    if (readSync(fd, h, 0, 64, 0) < 64 || h.readUInt32BE(0) !== 0x7f454c46 || h[4] !== 2) return false;
    const phoff = Number(h.readBigUInt64LE(0x20));
    const phentsize = h.readUInt16LE(0x36);
    const phnum = h.readUInt16LE(0x38);
    const ph = Buffer.alloc(phentsize * phnum);
    readSync(fd, ph, 0, ph.length, phoff);
    for (let i = 0; i < phnum; i++) if (ph.readUInt32LE(i * phentsize) === 3 /* PT_INTERP */) return false;
    return true;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** The static init (catatonit) and busybox to bind-mount into sandboxes; undefined where missing or dynamic. */
export function staticHelpers(): { catatonit?: string; busybox?: string } {
  const pick = (paths: string[]): string | undefined => paths.find(isStaticElf);
  return {
    catatonit: pick(["/usr/bin/catatonit", "/usr/libexec/podman/catatonit"]),
    busybox: pick(["/usr/bin/busybox", "/bin/busybox", "/usr/local/bin/busybox"]),
  };
}

function readOr(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/**
 * Memory snapshots need CRIU ≥ 4.1 (older ones fail on kernels ≥ 6.13: vDSO layout) and a crun
 * built with CRIU support. Debian 12 has neither; Debian 13 ships CRIU 4.1.
 */
export function memorySnapshotSupport(): { ok: boolean; reason: string } {
  const crun = spawnSync("crun", ["--version"], { encoding: "utf8" });
  if (!/\+CRIU/.test(crun.stdout ?? ""))
    return { ok: false, reason: "this crun is built without CRIU support (crun --version shows no +CRIU)" };
  const criu = spawnSync("criu", ["--version"], { encoding: "utf8" });
  const m = /Version:\s*(\d+)\.(\d+)/.exec(criu.stdout ?? "");
  if (!m) return { ok: false, reason: "CRIU is not installed (apt-get install criu; version 4.1 or later is needed)" };
  const [major, minor] = [Number(m[1]), Number(m[2])];
  if (major < 4 || (major === 4 && minor < 1))
    return { ok: false, reason: `CRIU ${major}.${minor} is too old for this kernel (4.1 or later is needed)` };
  return { ok: true, reason: `CRIU ${major}.${minor} with a CRIU-enabled crun` };
}
