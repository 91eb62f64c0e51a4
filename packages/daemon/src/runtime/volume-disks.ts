// The disks behind volumes, on this host: each volume is one sparse ext4 image file (its size is
// the cap: a full volume is ENOSPC inside the sandbox and nothing else) loop-mounted nosuid,nodev
// under `<volumesDir>/<id>/mnt`, owned on disk by the storage range's root like the layers, so an
// idmapped clone (sbx-idmap) shows it to any sandbox as its own root's. Mounts outlive the daemon
// (sandboxes hold them through a restart); reconcile() mounts what a host reboot unmounted and
// removes disks no volume record names (a create or remove cut short by a crash).
import { existsSync } from "node:fs";
import { mkdir, readdir, rm, rmdir, statfs, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { SbxError } from "@sbx-sh/protocol";
import { mustRun, runCommand } from "../common/command.js";
import { mountsUnder } from "../layers/overlay.js";

export interface VolumeUsage {
  usedBytes: number;
  capacityBytes: number;
}

/** What services/ may ask of the host about volumes' disks (ids are volume ids, never names). */
export interface VolumeDisks {
  /** Makes and mounts an empty disk of `sizeMb`; on failure nothing is left. */
  create(id: string, sizeMb: number): Promise<void>;
  /** Unmounts (lazily if a sandbox's teardown still holds it) and deletes the disk. Idempotent. */
  remove(id: string): Promise<void>;
  usage(id: string): Promise<VolumeUsage>;
  /**
   * The host dir to clone into a sandbox (the runtime's business; services never open it), its
   * disk mounted there first if it was not: never the bare directory under it, which has no cap.
   */
  attach(id: string): Promise<string>;
  /** Daemon start: mounts every known disk, removes the rest; answers what it did. */
  reconcile(known: Set<string>): Promise<{ mounted: string[]; removed: string[]; missing: string[] }>;
}

const ID_RE = /^vol-[A-Za-z0-9_-]{1,60}$/;

export class LoopVolumeDisks implements VolumeDisks {
  constructor(private readonly o: { dir: string; uidBase: number }) {}

  private dirOf(id: string): string {
    if (!ID_RE.test(id)) throw new SbxError("internal", `not a volume id: ${id}`);
    return join(this.o.dir, id);
  }

  private mountPath(id: string): string {
    return join(this.dirOf(id), "mnt");
  }

  async attach(id: string): Promise<string> {
    if (await this.mounted(id)) return this.mountPath(id);
    if (!existsSync(join(this.dirOf(id), "disk.ext4")))
      throw new SbxError("runtime_error", `the disk of volume ${id} is missing: remove the volume and create it again`);
    await this.mount(id);
    return this.mountPath(id);
  }

  async create(id: string, sizeMb: number): Promise<void> {
    const dir = this.dirOf(id);
    await mkdir(this.o.dir, { recursive: true, mode: 0o700 });
    await mkdir(join(dir, "mnt"), { recursive: true, mode: 0o700 });
    try {
      const image = join(dir, "disk.ext4");
      await writeFile(image, "", { mode: 0o600 });
      // Sparse: the cap costs no host disk until it is written.
      await truncate(image, sizeMb * 1024 * 1024);
      const owner = `${this.o.uidBase}:${this.o.uidBase}`;
      // -m 0: blocks reserved for on-disk uid 0 would be out of every sandbox's reach.
      await mustRun("mkfs.ext4", ["-q", "-F", "-m", "0", "-L", "sbx-volume", "-E", `root_owner=${owner}`, image]);
      await this.mount(id);
      // mkfs makes lost+found as host root: in a sandbox it would be an unusable nobody-owned dir.
      await rmdir(join(dir, "mnt", "lost+found")).catch(() => undefined);
    } catch (err) {
      await this.remove(id).catch(() => undefined);
      throw new SbxError("runtime_error", `cannot make the volume's disk: ${(err as Error).message}`, undefined, {
        cause: err,
      });
    }
  }

  private async mount(id: string): Promise<void> {
    const dir = this.dirOf(id);
    await mustRun("mount", ["-t", "ext4", "-o", "loop,nosuid,nodev", join(dir, "disk.ext4"), join(dir, "mnt")]);
  }

  private async mounted(id: string): Promise<boolean> {
    return (await mountsUnder(this.mountPath(id))).includes(this.mountPath(id));
  }

  async remove(id: string): Promise<void> {
    const dir = this.dirOf(id);
    for (const mp of (await mountsUnder(dir)).reverse()) {
      const r = await runCommand("umount", [mp]);
      // Busy: a sandbox's mount namespace still being torn down holds it; detach now, freed after.
      if (r.code !== 0) await mustRun("umount", ["-l", mp]);
    }
    await rm(dir, { recursive: true, force: true });
  }

  async usage(id: string): Promise<VolumeUsage> {
    if (!(await this.mounted(id))) return { usedBytes: 0, capacityBytes: 0 };
    const s = await statfs(this.mountPath(id));
    return { usedBytes: (s.blocks - s.bfree) * s.bsize, capacityBytes: s.blocks * s.bsize };
  }

  async reconcile(known: Set<string>): Promise<{ mounted: string[]; removed: string[]; missing: string[] }> {
    const out = { mounted: [] as string[], removed: [] as string[], missing: [] as string[] };
    const present = new Set(await readdir(this.o.dir).catch(() => [] as string[]));
    for (const name of present) {
      if (known.has(name)) continue;
      if (!ID_RE.test(name)) continue;
      await this.remove(name);
      out.removed.push(name);
    }
    for (const id of known) {
      if (!present.has(id)) {
        out.missing.push(id);
        continue;
      }
      if (await this.mounted(id)) continue;
      await this.mount(id);
      out.mounted.push(id);
    }
    return out;
  }
}
