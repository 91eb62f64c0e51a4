// The bounded cache of cluster content a node pulled from the registry (snapshots restored here
// although another node took them): which entries to drop, least recently used first, once their
// bytes pass the budget. An entry some sandbox on this node still stands on is never dropped (its
// layers are that sandbox's lower dirs); the cache may then stay over budget until it is free.
// Pure bookkeeping: the caller removes what evict() names (its records, then garbage collection)
// and persists snapshot() so a restarted node keeps its order and does not leak what it cached.

export interface CacheEntry {
  /** What the entry is (a snapshot id). */
  key: string;
  bytes: number;
  /** Last use, ms since the epoch. */
  usedAt: number;
}

export class ContentCache {
  private readonly entries = new Map<string, CacheEntry>();

  constructor(
    /** Most bytes kept before entries are evicted; 0 keeps nothing that is not in use. */
    readonly budgetBytes: number,
    entries: CacheEntry[] = [],
    private readonly now: () => number = Date.now,
  ) {
    if (!Number.isFinite(budgetBytes) || budgetBytes < 0) throw new RangeError(`invalid cache budget ${budgetBytes}`);
    for (const e of entries) this.entries.set(e.key, { ...e });
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** A new entry, or a use of one already there: it becomes the most recently used. */
  touch(key: string, bytes?: number): void {
    const e = this.entries.get(key);
    const usedAt = Math.max(this.now(), ...[...this.entries.values()].map((x) => x.usedAt + 1));
    if (e) {
      e.usedAt = usedAt;
      if (bytes !== undefined) e.bytes = bytes;
    } else this.entries.set(key, { key, bytes: bytes ?? 0, usedAt });
  }

  forget(key: string): void {
    this.entries.delete(key);
  }

  get totalBytes(): number {
    let n = 0;
    for (const e of this.entries.values()) n += e.bytes;
    return n;
  }

  /**
   * The entries to drop, oldest use first, until the rest fits the budget; `inUse(key)` true keeps
   * an entry whatever its age. The returned entries are forgotten here.
   */
  evict(inUse: (key: string) => boolean): CacheEntry[] {
    let total = this.totalBytes;
    const out: CacheEntry[] = [];
    for (const e of [...this.entries.values()].sort((a, b) => a.usedAt - b.usedAt)) {
      if (total <= this.budgetBytes) break;
      if (inUse(e.key)) continue;
      this.entries.delete(e.key);
      total -= e.bytes;
      out.push(e);
    }
    return out;
  }

  /** The entries, for persisting. */
  snapshot(): CacheEntry[] {
    return [...this.entries.values()].map((e) => ({ ...e }));
  }
}
