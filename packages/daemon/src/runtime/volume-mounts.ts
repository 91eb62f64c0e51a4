// A sandbox's view of its volumes: each volume's host mount is cloned by sbx-idmap into the
// sandbox's dir (`<dir>/volumes/<i>`) as an idmapped, nosuid, nodev mount (read-only when asked),
// so files on disk stay in the storage range while the sandbox's root and users own them in its own
// range; the OCI config then binds each clone at its path. removeSnapshot() unmounts the clones
// with the rest of the sandbox's dir.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { SbxError } from "@sbx-sh/protocol";
import { mustRun } from "../common/command.js";
import type { SandboxSpec } from "./types.js";
import type { VolumeDisks } from "./volume-disks.js";

export interface VolumeIdmap {
  helper: string;
  /** Storage range base (ids on disk). */
  from: number;
  /** The sandbox's range base. */
  to: number;
  count: number;
}

export async function mountSandboxVolumes(
  dir: string,
  volumes: NonNullable<SandboxSpec["volumes"]>,
  disks: VolumeDisks | undefined,
  idmap: VolumeIdmap | undefined,
): Promise<Array<{ source: string; destination: string; readOnly: boolean }>> {
  if (volumes.length === 0) return [];
  if (!disks) throw new SbxError("unimplemented", "this runtime cannot mount volumes");
  if (!idmap)
    throw new SbxError(
      "invalid_argument",
      "volumes need a sandbox with its own uid range: systemd images run with host ids and cannot mount volumes",
    );
  await mkdir(join(dir, "volumes"), { mode: 0o711 });
  const args: string[] = [String(idmap.from), String(idmap.to), String(idmap.count)];
  const out: Array<{ source: string; destination: string; readOnly: boolean }> = [];
  for (const [i, v] of volumes.entries()) {
    const source = join(dir, "volumes", String(i));
    args.push(v.readOnly ? "ro" : "rw", await disks.attach(v.volumeId), source);
    out.push({ source, destination: v.path, readOnly: v.readOnly });
  }
  for (const v of out) await mkdir(v.source, { mode: 0o711 });
  await mustRun(idmap.helper, args);
  return out;
}
