// The rules of volumes, pure: what a volume's size may be, where in a sandbox it may be mounted,
// and who may hold it. A volume is mounted read-only by any number of sandboxes and read-write by
// at most one at a time (readers may share it with that one writer and see its changes). A sandbox
// holds its volumes from create until it is terminated: a suspended sandbox keeps them, since
// resume mounts them again.
import { posix } from "node:path";
import { assertValidName, SbxError } from "@sbx-sh/protocol";
import type { SandboxRecord, SandboxVolume } from "./records.js";

export const VOLUME_SIZE_MB = { min: 16, max: 1048576, default: 1024 } as const;
/** More than this many volumes in one sandbox is a mistake. */
export const MAX_VOLUMES_PER_SANDBOX = 16;

/** Paths a volume may not cover: the kernel's and the daemon's own mounts in every sandbox. */
const RESERVED = ["/proc", "/sys", "/dev", "/.sbx"];
const RESERVED_FILES = ["/etc/resolv.conf"];

export function checkVolumeSize(sizeMb: number): void {
  if (!Number.isInteger(sizeMb) || sizeMb < VOLUME_SIZE_MB.min || sizeMb > VOLUME_SIZE_MB.max)
    throw new SbxError(
      "out_of_range",
      `volume size ${sizeMb} MiB is out of range: give a whole number of MiB from ${VOLUME_SIZE_MB.min} to ${VOLUME_SIZE_MB.max} (e.g. --size 1G)`,
    );
}

/** A mount path must be absolute, normal (no `..`, `//`, trailing `/`), one printable line, and not a reserved place. */
export function checkMountPath(path: string): void {
  const bad = (why: string): never => {
    throw new SbxError("invalid_path", `volume mount path ${JSON.stringify(path)} ${why}`);
  };
  if (typeof path !== "string" || !path.startsWith("/")) bad("must be absolute, e.g. /data");
  if (path.length > 4096) bad("is longer than 4096 characters");
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(path)) bad("contains a control character");
  if (path === "/") bad("would hide the sandbox's whole filesystem: mount it below /, e.g. /data");
  if (posix.normalize(path) !== path || path.endsWith("/") || path.split("/").includes(".."))
    bad(`is not a normal path: write it as ${JSON.stringify(posix.normalize(path).replace(/\/+$/, "") || "/")}`);
  for (const r of RESERVED) if (path === r || path.startsWith(r + "/")) bad(`is inside ${r}, which sbx mounts itself`);
  if (RESERVED_FILES.includes(path)) bad("is a file sbx mounts itself");
}

/** The mounts of one create request: valid paths, no volume twice, no path inside another's. */
export function checkMounts(mounts: Array<{ name: string; path: string; readOnly?: boolean | undefined }>): void {
  if (mounts.length > MAX_VOLUMES_PER_SANDBOX)
    throw new SbxError("out_of_range", `at most ${MAX_VOLUMES_PER_SANDBOX} volumes per sandbox`);
  for (const m of mounts) {
    assertValidName("volume", m.name);
    checkMountPath(m.path);
  }
  for (let i = 0; i < mounts.length; i++)
    for (let j = i + 1; j < mounts.length; j++) {
      const [a, b] = [mounts[i]!, mounts[j]!];
      if (a.name === b.name)
        throw new SbxError("invalid_argument", `volume ${a.name} is given twice: mount each volume once`);
      if (a.path === b.path || a.path.startsWith(b.path + "/") || b.path.startsWith(a.path + "/"))
        throw new SbxError(
          "invalid_path",
          `volume mount paths ${a.path} and ${b.path} overlap: give each volume its own directory`,
        );
    }
}

/** The live sandboxes (not terminated) holding volume `volumeId`, and how. */
export function holdersOf(
  volumeId: string,
  sandboxes: SandboxRecord[],
): Array<{ sb: SandboxRecord; v: SandboxVolume }> {
  const out: Array<{ sb: SandboxRecord; v: SandboxVolume }> = [];
  for (const sb of sandboxes) {
    if (sb.status === "terminated") continue;
    for (const v of sb.volumes ?? []) if (v.volumeId === volumeId) out.push({ sb, v });
  }
  return out;
}

/** Refuses a read-write mount of a volume that another live sandbox already mounts read-write. */
export function assertMountable(want: SandboxVolume, sandboxes: SandboxRecord[]): void {
  if (want.readOnly) return;
  const writer = holdersOf(want.volumeId, sandboxes).find((h) => !h.v.readOnly);
  if (writer)
    throw new SbxError(
      "volume_in_use",
      `volume ${want.name} is mounted read-write by sandbox ${writer.sb.name ?? writer.sb.id} (${writer.sb.status}): one sandbox at a time may write it; mount it read-only (${want.name}:${want.path}:ro) or remove that sandbox first`,
      { volume: want.name, sandbox: writer.sb.id },
    );
}
