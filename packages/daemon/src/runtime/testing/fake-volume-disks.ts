// VolumeDisks for unit tests: disks are entries in a map (no files, no mounts), so the volume
// service's rules (names, holders, removal, reconcile) can be tested on the FakeRuntime.
import { SbxError } from "@sbx-sh/protocol";
import type { VolumeDisks, VolumeUsage } from "../volume-disks.js";

export class FakeVolumeDisks implements VolumeDisks {
  /** id → size cap in MiB, and the bytes a test says are used. */
  readonly disks = new Map<string, { sizeMb: number; usedBytes: number }>();

  async create(id: string, sizeMb: number): Promise<void> {
    if (this.disks.has(id)) throw new SbxError("internal", `fake volume disk ${id} exists`);
    this.disks.set(id, { sizeMb, usedBytes: 0 });
  }
  async remove(id: string): Promise<void> {
    this.disks.delete(id);
  }
  async usage(id: string): Promise<VolumeUsage> {
    const d = this.disks.get(id);
    return d ? { usedBytes: d.usedBytes, capacityBytes: d.sizeMb * 1024 * 1024 } : { usedBytes: 0, capacityBytes: 0 };
  }
  async attach(id: string): Promise<string> {
    if (!this.disks.has(id)) throw new SbxError("runtime_error", `the disk of volume ${id} is missing`);
    return `/fake-volumes/${id}`;
  }
  async reconcile(known: Set<string>): Promise<{ mounted: string[]; removed: string[]; missing: string[] }> {
    const removed = [...this.disks.keys()].filter((id) => !known.has(id));
    for (const id of removed) this.disks.delete(id);
    return { mounted: [], removed, missing: [...known].filter((id) => !this.disks.has(id)) };
  }
}
