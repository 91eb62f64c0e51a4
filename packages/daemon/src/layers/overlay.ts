// Active (writable) snapshots on overlayfs: a stack of read-only layer dirs plus a per-sandbox
// writable layer on its own size-capped tmpfs (the disk cap). Prepare mounts it, remove unmounts
// it and deletes what is left. Nothing here knows about crun or sandboxes.
import { mkdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { mustRun, runCommand } from "../common/command.js";
import { SbxError } from "@sbx-sh/protocol";

export interface ActiveSnapshot {
  /** The merged view, used as the sandbox's root filesystem. */
  rootfs: string;
  /** The writable layer: what the sandbox changed (whiteouts and opaque-dir xattrs included). */
  upper: string;
}

// One busybox shell for all mounts of a sandbox: its mkdir/chown/mount applets run without an
// exec each, and one spawn from Node replaces five. Paths arrive as positional arguments, never
// spliced into the script. Extra tmpfs mounts (name:sizeMb) are for the caller's scratch dirs.
// Every mount is nosuid,nodev on the host side: a setuid file a sandbox plants is inert there.
//
// With an idmap, each lower and the writable tmpfs are cloned as idmapped mounts (sbx-idmap): the
// sandbox sees its own uid range while every byte on disk keeps the storage range's ids. The tmpfs
// itself is owned by the storage range, since an idmapped mount hides ids outside its map.
// The overlay is mounted from inside the sandbox's dir with relative layer paths: the kernel
// shows its options as given in the sandbox's /proc/self/mountinfo, so the sandbox sees
// "lowerdir=lower/0,upperdir=rwmap/upper" instead of the host's data dir, its id and layer digests.
const PREPARE_SCRIPT = `set -e
dir=$1; size=$2; inodes=$3; owner=$4; lower=$5; extras=$6; helper=$7; from=$8; to=$9; count=\${10}; shift 10
mkdir -p "$dir/rw" "$dir/rootfs"
mount -t tmpfs -o "size=\${size}m,nr_inodes=$inodes,mode=0700,nosuid,nodev,uid=\${owner%:*},gid=\${owner#*:}" sbx-rw "$dir/rw"
mkdir -p "$dir/rw/upper" "$dir/rw/work"
chown "$owner" "$dir/rw/upper"
if [ -n "$helper" ]; then
  mapped=""; i=0
  IFS=:
  for l in $lower; do
    mkdir -p "$dir/lower/$i"
    set -- "$@" ro "$l" "$dir/lower/$i"
    mapped="$mapped\${mapped:+:}lower/$i"; i=$((i+1))
  done
  unset IFS
  mkdir -p "$dir/rwmap"
  "$helper" "$from" "$to" "$count" "$@" rw "$dir/rw" "$dir/rwmap"
  lower=$mapped; rw=rwmap
else
  rw=rw
fi
cd "$dir"
mount -t overlay -o "lowerdir=$lower,upperdir=$rw/upper,workdir=$rw/work,nosuid,nodev" sbx-root "$dir/rootfs"
for extra in $extras; do
  name=\${extra%%:*}; mb=\${extra#*:}
  mkdir -p "$dir/$name"
  mount -t tmpfs -o "size=\${mb}m,mode=0700,nosuid,nodev,noexec" "sbx-$name" "$dir/$name"
done
`;

/**
 * Inodes of the writable layer: one per 4 KiB of its size cap, as many as non-empty files fit. The
 * kernel's tmpfs default is half the host's RAM pages, whatever the size, so empty files, dirs and
 * symlinks would be limited only by the memory their inodes pin.
 */
export function inodesFor(sizeMb: number): number {
  return sizeMb * 256;
}

export interface PrepareOptions {
  sizeMb: number;
  uidBase: number;
  /** Small tmpfs dirs to mount beside the root, e.g. `{ name: "logs", sizeMb: 64 }`. */
  scratch?: Array<{ name: string; sizeMb: number }>;
  busybox?: string;
  /**
   * Show the layers to the sandbox in its own uid range: ids from..from+count-1 on disk appear as
   * to..to+count-1, through idmapped mounts made by the sbx-idmap helper at `helper`.
   */
  idmap?: { helper: string; from: number; to: number; count: number };
  /**
   * Called once the mount script is started: each start of a host program blocks the daemon for a
   * while (fork), so a caller starts its other programs then, not before the longest one.
   */
  onStarted?: () => void;
}

export async function prepareSnapshot(dir: string, lowers: string[], opts: PrepareOptions): Promise<ActiveSnapshot> {
  if (lowers.length === 0) throw new SbxError("internal", "an overlay needs at least one lower layer");
  if (lowers.some((l) => l.includes(":") || l.includes(",")))
    throw new SbxError("internal", "layer paths must not contain ':' or ','");
  // 0711: the sandbox's mapped root must traverse to its rootfs, but not list siblings.
  await mkdir(dir, { recursive: true, mode: 0o711 });
  const owner = `${opts.uidBase}:${opts.uidBase}`;
  const scratch = (opts.scratch ?? []).map((s) => `${s.name}:${s.sizeMb}`).join(" ");
  const m = opts.idmap;
  const idmap = m ? [m.helper, String(m.from), String(m.to), String(m.count)] : ["", "", "", ""];
  const started = runCommand(opts.busybox ?? "/bin/busybox", [
    "sh",
    "-c",
    PREPARE_SCRIPT,
    "sh",
    dir,
    String(opts.sizeMb),
    String(inodesFor(opts.sizeMb)),
    owner,
    lowers.join(":"),
    scratch,
    ...idmap,
  ]);
  opts.onStarted?.();
  const r = await started;
  if (r.code !== 0) {
    await removeSnapshot(dir).catch(() => undefined);
    throw new SbxError("runtime_error", `cannot mount the sandbox filesystem: ${r.stderr.trim()}`);
  }
  return { rootfs: join(dir, "rootfs"), upper: join(dir, "rw", "upper") };
}

/** Unmounts everything under dir (deepest first) and deletes it. Safe to call twice. */
export async function removeSnapshot(dir: string): Promise<void> {
  // Latest first (the kernel's table is in mount order): the overlay before the idmapped lowers under it.
  for (const mountpoint of (await mountsUnder(dir)).reverse()) {
    const r = await runCommand("umount", [mountpoint]);
    if (r.code !== 0) await mustRun("umount", ["-l", mountpoint]);
  }
  await rm(dir, { recursive: true, force: true });
}

/** Mount points at or below dir, read from the kernel's mount table. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const table = await readFile("/proc/self/mountinfo", "utf8");
  const prefix = dir.endsWith("/") ? dir : dir + "/";
  const out: string[] = [];
  for (const line of table.split("\n")) {
    const mp = line.split(" ")[4];
    if (!mp) continue;
    const decoded = mp.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (decoded === dir || decoded.startsWith(prefix)) out.push(decoded);
  }
  return out;
}
