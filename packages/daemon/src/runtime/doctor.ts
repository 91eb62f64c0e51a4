// `sbxd doctor` (and through it `sbx doctor`): can this host run sandboxes, and if not, the one
// command that fixes each problem. Lives with the daemon because it checks what the daemon needs.
import { spawn } from "node:child_process";
import { access, constants, readFile, statfs } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { hostEnv } from "../config.js";
import { checkHostCas } from "./doctor-ca.js";
import { findDeflateHelper } from "./deflate-helper.js";
import { cgroupVersion, isStaticElf, memorySnapshotSupport, staticHelpers } from "./host-facts.js";

export interface DoctorCheck {
  name: string;
  ok: boolean;
  /** An optional feature that is missing: not a failure, but worth a look. */
  warning?: boolean;
  detail: string;
  fix?: string;
}

const SETUP = "run scripts/setup-host.sh as root";
const MIN_FREE_BYTES = 2 * 1024 ** 3;
const DEFAULT_DATA_DIR = "/var/lib/sbx";

export async function runDoctor(
  opts: { dataDir?: string; agentPath?: string | null; deflatePath?: string | null; caCerts?: string[] } = {},
): Promise<DoctorCheck[]> {
  const dataDir = resolve(opts.dataDir ?? DEFAULT_DATA_DIR);
  const helpers = staticHelpers();
  const checks: Array<Promise<DoctorCheck>> = [
    Promise.resolve(
      process.getuid?.() === 0
        ? ok("root", "running as root")
        : bad(
            "root",
            `running as uid ${process.getuid?.()}: mounts, cgroups and user namespaces need root`,
            "run the daemon as root (sudo sbxd)",
          ),
    ),
    tool("crun", "crun", ["--version"], "apt-get install crun"),
    Promise.resolve(
      helpers.catatonit
        ? ok("catatonit", helpers.catatonit)
        : bad(
            "catatonit",
            "no static catatonit (/usr/bin/catatonit): it is every sandbox's PID 1",
            "apt-get install catatonit",
          ),
    ),
    Promise.resolve(
      helpers.busybox
        ? ok("busybox-static", helpers.busybox)
        : bad(
            "busybox-static",
            "no static busybox (/usr/bin/busybox): file operations and exit codes in images without a shell need it",
            "apt-get install busybox-static",
          ),
    ),
    Promise.resolve(agentCheck(opts.agentPath)),
    compressorCheck(opts.deflatePath),
    tool("mmdebstrap", "mmdebstrap", ["--version"], "apt-get install mmdebstrap"),
    tool("zstd", "zstd", ["--version"], "apt-get install zstd"),
    // Optional: reported, never a failure (filesystem snapshots work without it).
    Promise.resolve(
      ((m) =>
        m.ok
          ? ok("memory snapshots", `available: ${m.reason}`)
          : { ...ok("memory snapshots", `not available (optional): ${m.reason}`), warning: true })(
        memorySnapshotSupport(),
      ),
    ),
    tool("nft", "nft", ["--version"], "apt-get install nftables"),
    tool("ip", "ip", ["-V"], "apt-get install iproute2"),
    checkOverlay(),
    checkCgroups(),
    checkUserns(),
    checkDisk(dataDir),
    Promise.resolve(checkNode()),
    checkHostCas(opts.caCerts ?? []),
  ];
  return Promise.all(checks);
}

function ok(name: string, detail: string): DoctorCheck {
  return { name, ok: true, detail };
}

function bad(name: string, detail: string, fix: string): DoctorCheck {
  return { name, ok: false, detail, fix };
}

async function tool(name: string, cmd: string, args: string[], install: string): Promise<DoctorCheck> {
  const r = await run(cmd, args);
  if (r.code === 0) return ok(name, (r.out.split("\n").find((l) => l.trim()) ?? cmd).trim());
  return bad(
    name,
    r.code === 127
      ? `${cmd} not found in PATH`
      : `${cmd} ${args.join(" ")} failed: ${r.out.trim().split("\n")[0] ?? ""}`,
    `${install} (or ${SETUP})`,
  );
}

async function checkOverlay(): Promise<DoctorCheck> {
  const fs = await readFile("/proc/filesystems", "utf8").catch(() => "");
  return /\toverlay$/m.test(fs)
    ? ok("overlayfs", "overlay is in /proc/filesystems")
    : bad(
        "overlayfs",
        "the kernel does not list overlay in /proc/filesystems",
        "modprobe overlay (or use a kernel with CONFIG_OVERLAY_FS)",
      );
}

/** cgroup layout; on hybrid hosts crun refuses to start while any controller is attached to the v2 mount. */
export async function checkCgroups(root = "/sys/fs/cgroup"): Promise<DoctorCheck> {
  if (cgroupVersion() === 2) {
    const ctl = (await readFile(`${root}/cgroup.controllers`, "utf8").catch(() => "")).trim().split(/\s+/);
    const missing = ["memory", "pids", "cpu"].filter((c) => !ctl.includes(c));
    return missing.length === 0
      ? ok("cgroups", `cgroup v2 (controllers: ${ctl.join(" ")})`)
      : bad(
          "cgroups",
          `cgroup v2 without the ${missing.join(", ")} controller(s)`,
          "enable them in the root cgroup.subtree_control or boot with the controllers enabled",
        );
  }
  const unified = (await readFile(`${root}/unified/cgroup.controllers`, "utf8").catch(() => "")).trim();
  if (unified) {
    return bad(
      "cgroups",
      `cgroup v1 hybrid with controllers attached to the v2 mount (${unified}): crun will refuse to start`,
      `${SETUP} (mounts ${unified.split(/\s+/).join(", ")} as v1 hierarchies)`,
    );
  }
  const mounts = await readFile("/proc/self/mounts", "utf8").catch(() => "");
  const v1 = new Set(
    mounts.split("\n").flatMap((l) => (l.split(" ")[2] === "cgroup" ? (l.split(" ")[3] ?? "").split(",") : [])),
  );
  const missing = ["memory", "pids", "cpu"].filter((c) => !v1.has(c));
  const kind = mounts.includes(" cgroup2 ") ? "v1 hybrid" : "v1";
  return missing.length === 0
    ? ok("cgroups", `cgroup ${kind} (memory, pids, cpu mounted)`)
    : bad(
        "cgroups",
        `cgroup ${kind} without the ${missing.join(", ")} hierarchy`,
        `mount it: mkdir -p ${root}/<name> && mount -t cgroup -o <name> cgroup ${root}/<name>`,
      );
}

async function checkUserns(): Promise<DoctorCheck> {
  const max = Number((await readFile("/proc/sys/user/max_user_namespaces", "utf8").catch(() => "0")).trim());
  return max > 0
    ? ok("user namespaces", `max_user_namespaces = ${max}`)
    : bad(
        "user namespaces",
        "user namespaces are disabled (max_user_namespaces = 0)",
        "sysctl -w user.max_user_namespaces=15000 (and persist it in /etc/sysctl.d)",
      );
}

async function checkDisk(dataDir: string): Promise<DoctorCheck> {
  // The data dir may not exist yet: measure the filesystem it will be created on.
  let dir = dataDir;
  for (;;) {
    try {
      await access(dir, constants.F_OK);
      break;
    } catch {
      if (dirname(dir) === dir) break;
      dir = dirname(dir);
    }
  }
  try {
    const st = await statfs(dir);
    const free = st.bavail * st.bsize;
    const gib = (free / 1024 ** 3).toFixed(1);
    return free >= MIN_FREE_BYTES
      ? ok("disk", `${gib} GiB free for ${dataDir}`)
      : bad(
          "disk",
          `only ${gib} GiB free for ${dataDir} (need 2 GiB for base images and layers)`,
          "free space there, or point the daemon at another --data-dir",
        );
  } catch (err) {
    return bad("disk", `cannot stat ${dir}: ${(err as Error).message}`, `create ${dataDir} on a local filesystem`);
  }
}

// undici 7 (the daemon's registry client) needs 20.18.1; zlib.crc32 (parallel gzip) needs 20.15.
const MIN_NODE = [20, 18, 1];

export function checkNode(version = process.versions.node): DoctorCheck {
  const parts = version.split(".").map(Number);
  const diff = MIN_NODE.map((m, i) => (parts[i] ?? 0) - m).find((d) => d !== 0) ?? 0;
  return diff >= 0
    ? ok("node", `Node ${version}`)
    : bad("node", `Node ${version} is too old`, `install Node ${MIN_NODE.join(".")} or newer`);
}

function run(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((done) => {
    let out = "";
    // sbin is not always in a non-login PATH, and nft and ip live there.
    const env = { ...hostEnv(), PATH: `${hostEnv().PATH ?? "/usr/bin:/bin"}:/usr/local/sbin:/usr/sbin:/sbin` };
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], timeout: 10_000, env });
    child.stdout.on("data", (b: Buffer) => (out += b.toString()));
    child.stderr.on("data", (b: Buffer) => (out += b.toString()));
    child.on("error", (e: NodeJS.ErrnoException) => done({ code: e.code === "ENOENT" ? 127 : 1, out: e.message }));
    child.on("close", (code) => done({ code: code ?? 1, out }));
  });
}

/** sbx-agent, every sandbox's PID 1 unless SBX_AGENT=off (then catatonit, checked above). */
function agentCheck(path: string | null | undefined): DoctorCheck {
  if (path === null)
    return ok("sbx-agent", "off (SBX_AGENT=off): catatonit is PID 1 and processes run under crun exec");
  if (path !== undefined && isStaticElf(path)) return ok("sbx-agent", path);
  return bad(
    "sbx-agent",
    `no static sbx-agent${path ? ` at ${path}` : ""}: it is every sandbox's PID 1 and runs its processes`,
    "apt-get install musl-tools, then npm run build (it runs make -C packages/daemon/agent)",
  );
}

/**
 * The gzip of OCI layer exports, found the way the daemon finds it at start (findDeflateHelper):
 * sbx-deflate with its libdeflate version, or zlib and why. zlib is slower but correct: a warning.
 */
async function compressorCheck(path: string | null | undefined): Promise<DoctorCheck> {
  const name = "layer compressor";
  if (path === undefined) return { ...ok(name, "zlib: no sbx-deflate path given"), warning: true };
  const found = await findDeflateHelper(path);
  if (found.helper) return ok(name, `${found.version} (${path})`);
  const detail = `zlib in the daemon (slower exports): ${found.why}`;
  // Turned off on purpose: nothing to fix.
  return path === null ? ok(name, detail) : { ...ok(name, detail), warning: true };
}
