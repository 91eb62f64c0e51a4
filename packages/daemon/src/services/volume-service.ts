// Volumes: create, list with usage and holders, remove (only when no sandbox holds it), the mounts
// of a sandbox about to be created, and the reconcile pass at daemon start. Who may mount what is
// decided here with the store, in the transaction that inserts the sandbox (domain/volume-rules.ts):
// at most one live sandbox mounts a volume read-write; read-only mounts are unlimited. The disks
// themselves are the runtime's (runtime/volume-disks.ts).
import { assertValidName, newId, SbxError } from "@sbx-sh/protocol";
import type { Logger } from "../common/log.js";
import type { CreateSandbox } from "../domain/commands.js";
import type { SandboxRecord, SandboxVolume, VolumeRecord } from "../domain/records.js";
import { assertMountable, checkMounts, checkVolumeSize, holdersOf, VOLUME_SIZE_MB } from "../domain/volume-rules.js";
import type { VolumeDisks, VolumeUsage } from "../runtime/volume-disks.js";
import type { MetaOps, Store } from "../store/store.js";

export interface VolumeView {
  volume: VolumeRecord;
  usage: VolumeUsage;
  holders: Array<{ sb: SandboxRecord; v: SandboxVolume }>;
}

export class VolumeService {
  constructor(
    private readonly store: Store,
    private readonly disks: VolumeDisks | undefined,
    private readonly log: Logger,
  ) {}

  private needDisks(): VolumeDisks {
    if (!this.disks) throw new SbxError("unimplemented", "this daemon's runtime cannot keep volumes");
    return this.disks;
  }

  private notFound(project: string, name: string): SbxError {
    return new SbxError(
      "volume_not_found",
      `volume ${JSON.stringify(name)} does not exist in project ${project}: create it with \`sbx volume create ${name}\``,
    );
  }

  async create(project: string, name: string, sizeMb: number = VOLUME_SIZE_MB.default): Promise<VolumeView> {
    assertValidName("volume", name);
    checkVolumeSize(sizeMb);
    const disks = this.needDisks();
    if (await this.store.getVolume(project, name))
      throw new SbxError(
        "already_exists",
        `a volume named ${JSON.stringify(name)} already exists in project ${project}`,
      );
    const v: VolumeRecord = { id: newId("vol"), project, name, sizeMb, createdAt: new Date().toISOString() };
    // Disk first: a crash before the record leaves a disk no record names, which reconcile removes.
    await disks.create(v.id, sizeMb);
    try {
      await this.store.insertVolume(v);
    } catch (err) {
      await disks.remove(v.id).catch(() => undefined);
      throw err;
    }
    this.log.info({ volume: v.id, name, project, sizeMb }, "volume created");
    return this.view(v, []);
  }

  async list(project: string): Promise<VolumeView[]> {
    const live = await this.store.listSandboxes({ project });
    return Promise.all((await this.store.listVolumes(project)).map((v) => this.view(v, live)));
  }

  async get(project: string, name: string): Promise<VolumeView> {
    const v = await this.store.getVolume(project, name);
    if (!v) throw this.notFound(project, name);
    return this.view(v, await this.store.listSandboxes({ project }));
  }

  /** Removes a volume no sandbox holds (a suspended one holds its volumes too); volume_in_use otherwise. */
  async remove(project: string, name: string): Promise<VolumeView> {
    const removed = await this.store.transaction(async (tx) => {
      const v = await tx.getVolume(project, name);
      if (!v) throw this.notFound(project, name);
      const holders = holdersOf(v.id, await tx.listSandboxes({ project }));
      if (holders.length)
        throw new SbxError(
          "volume_in_use",
          `volume ${name} is mounted by ${holders.map((h) => `${h.sb.name ?? h.sb.id} (${h.sb.status})`).join(", ")}: remove those sandboxes first (\`sbx rm ${holders[0]!.sb.name ?? holders[0]!.sb.id}\`)`,
          { sandboxes: holders.map((h) => h.sb.id) },
        );
      await tx.deleteVolume(v.id);
      return v;
    });
    const view = await this.view(removed, []);
    // After the commit: a crash in between leaves a disk no record names, which reconcile removes.
    await this.needDisks().remove(removed.id);
    this.log.info({ volume: removed.id, name, project }, "volume removed");
    return view;
  }

  /**
   * The volumes a new sandbox mounts, checked against the holders in `tx` (the transaction that
   * inserts the sandbox, so two creates cannot both take a volume read-write).
   */
  async mountsFor(tx: MetaOps, project: string, cmd: CreateSandbox): Promise<SandboxVolume[]> {
    const wanted = cmd.volumes ?? [];
    if (wanted.length === 0) return [];
    checkMounts(wanted);
    this.needDisks();
    const live = await tx.listSandboxes({ project });
    const out: SandboxVolume[] = [];
    for (const w of wanted) {
      const v = await tx.getVolume(project, w.name);
      if (!v) throw this.notFound(project, w.name);
      const mount = { name: v.name, volumeId: v.id, path: w.path, readOnly: w.readOnly ?? false };
      assertMountable(mount, live);
      out.push(mount);
    }
    return out;
  }

  /** Daemon start: every volume's disk mounted again (after a reboot), disks without a record removed. */
  async reconcile(): Promise<void> {
    if (!this.disks) return;
    const known = new Set((await this.store.listVolumes()).map((v) => v.id));
    const r = await this.disks.reconcile(known);
    if (r.missing.length) this.log.warn({ volumes: r.missing }, "volumes whose disk is missing");
    if (r.mounted.length || r.removed.length) this.log.info(r, "volumes reconciled");
  }

  private async view(v: VolumeRecord, live: SandboxRecord[]): Promise<VolumeView> {
    return { volume: v, usage: await this.needDisks().usage(v.id), holders: holdersOf(v.id, live) };
  }
}
