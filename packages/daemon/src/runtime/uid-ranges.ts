// Per-sandbox uid ranges: each sandbox (build sandboxes too) runs in its own 65,536-id range, so no
// two sandboxes share a uid — and with it no setuid file, no per-user kernel budget (inotify,
// mqueue, RLIMIT_NPROC) and no file another could open. Layers stay on disk in the storage range
// (the daemon's uid base) and are shown to each sandbox through idmapped mounts (sbx-idmap).
//
// A range is a host resource, like the sandbox's mounts: it is recorded in the sandbox's own dir
// (`<sandboxesDir>/<id>/uid-range`), which lives exactly as long as the sandbox does, and the table
// is rebuilt from those files when the daemon starts (sandboxes survive a daemon restart). Ranges
// that overlap a host account (/etc/passwd, /etc/group) or a subordinate range (/etc/subuid,
// /etc/subgid) are never handed out.
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SbxError } from "@sbx-sh/protocol";

export const RANGE_SIZE = 65536;
/** The highest id the kernel accepts in a map, plus one ((uid_t)-1 is "no id"). */
const ID_LIMIT = 0xffff_ffff;
const RANGE_FILE = "uid-range";

export interface UidRangesOptions {
  sandboxesDir: string;
  /** The storage range's first id: layers on disk are owned by storageBase..storageBase+65535. */
  storageBase: number;
  /** Files naming host ids and ranges to stay clear of (tests point these elsewhere). */
  hostIdFiles?: { passwd: string[]; ranges: string[] };
}

/** Host ids in use: single ids from passwd/group files, [start, count] ranges from subuid/subgid files. */
export function hostIdIntervals(files: { passwd: string[]; ranges: string[] }): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  const lines = (f: string): string[] => {
    try {
      return readFileSync(f, "utf8").split("\n");
    } catch {
      return [];
    }
  };
  for (const f of files.passwd)
    for (const l of lines(f)) {
      const id = Number(l.split(":")[2]);
      if (l && Number.isInteger(id)) out.push([id, 1]);
    }
  for (const f of files.ranges)
    for (const l of lines(f)) {
      const [, start, count] = l.split(":").map(Number);
      if (Number.isInteger(start) && Number.isInteger(count) && count! > 0) out.push([start!, count!]);
    }
  return out;
}

export class UidRanges {
  private readonly owners = new Map<number, string>();
  private readonly byId = new Map<string, number>();
  private readonly blocked: Array<[number, number]>;
  readonly capacity: number;

  constructor(private readonly o: UidRangesOptions) {
    this.blocked = hostIdIntervals(
      o.hostIdFiles ?? { passwd: ["/etc/passwd", "/etc/group"], ranges: ["/etc/subuid", "/etc/subgid"] },
    );
    this.capacity = Math.floor((ID_LIMIT - o.storageBase) / RANGE_SIZE) - 1;
    this.reload();
  }

  /** The first host id of slot k's range (slot 0 sits just above the storage range). */
  base(slot: number): number {
    return this.o.storageBase + RANGE_SIZE * (slot + 1);
  }

  /** Rebuilds the table from the sandboxes' dirs (at start: sandboxes outlive a daemon restart). */
  private reload(): void {
    let ids: string[];
    try {
      ids = readdirSync(this.o.sandboxesDir);
    } catch {
      return;
    }
    for (const id of ids) {
      let text: string;
      try {
        text = readFileSync(join(this.o.sandboxesDir, id, RANGE_FILE), "utf8");
      } catch {
        continue;
      }
      const base = Number(text.trim());
      const slot = (base - this.o.storageBase) / RANGE_SIZE - 1;
      if (Number.isInteger(slot) && slot >= 0 && !this.owners.has(slot)) {
        this.owners.set(slot, id);
        this.byId.set(id, slot);
      }
    }
  }

  private clashesWithHost(slot: number): boolean {
    const lo = this.base(slot);
    const hi = lo + RANGE_SIZE;
    return this.blocked.some(([start, count]) => start < hi && start + count > lo);
  }

  /**
   * The first id of the sandbox's range, allocating one if it has none; written to the sandbox's
   * dir (which must exist) before it is used, so a crash cannot hand the range out twice.
   */
  allocate(id: string, sandboxDir: string): number {
    const had = this.byId.get(id);
    if (had !== undefined) return this.base(had);
    for (let slot = 0; slot < this.capacity; slot++) {
      if (this.owners.has(slot) || this.clashesWithHost(slot)) continue;
      writeFileSync(join(sandboxDir, RANGE_FILE), `${this.base(slot)}\n`, { mode: 0o600 });
      this.owners.set(slot, id);
      this.byId.set(id, slot);
      return this.base(slot);
    }
    throw new SbxError("daemon_unavailable", "no free uid range for a new sandbox: remove sandboxes and retry");
  }

  /** Frees the sandbox's range (its dir, and the record in it, are removed by the caller). */
  release(id: string): void {
    const slot = this.byId.get(id);
    if (slot === undefined) return;
    this.byId.delete(id);
    this.owners.delete(slot);
  }

  /** Frees the ranges of every sandbox not in liveIds (reconciliation: their dirs are gone). */
  retain(liveIds: Set<string>): void {
    for (const id of [...this.byId.keys()]) if (!liveIds.has(id)) this.release(id);
  }

  /** The sandbox's range base, if it has one. */
  of(id: string): number | undefined {
    const slot = this.byId.get(id);
    return slot === undefined ? undefined : this.base(slot);
  }
}
