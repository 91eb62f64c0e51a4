// Layers that work in progress holds before any record names them: the steps a build has made or
// reused, the blobs an import or pull is putting in place. Garbage collection keeps them. Builds
// and OCI transfers add their sources when they are constructed; the collector reads them all at
// every collection, so neither side needs the other. HeldKeys is such a source, counted per holder.

export class LayersInUse {
  private readonly sources: Array<() => Iterable<string>> = [];

  /** Adds a source of layer keys, read again at every collection. */
  add(source: () => Iterable<string>): void {
    this.sources.push(source);
  }

  keys(): Set<string> {
    const keys = new Set<string>();
    for (const source of this.sources) for (const k of source()) keys.add(k);
    return keys;
  }
}

/**
 * Layer keys held by work in progress, as a source for LayersInUse. Counted, not a set: two pulls or
 * imports that hold one layer each release their own hold, and the key stays kept until the last one.
 */
export class HeldKeys {
  private readonly counts = new Map<string, number>();

  hold(keys: Iterable<string>): void {
    for (const k of keys) this.counts.set(k, (this.counts.get(k) ?? 0) + 1);
  }

  /** Releases one hold of each key (held once per time it is named). */
  release(keys: Iterable<string>): void {
    for (const k of keys) {
      const n = (this.counts.get(k) ?? 1) - 1;
      if (n > 0) this.counts.set(k, n);
      else this.counts.delete(k);
    }
  }

  keys(): Iterable<string> {
    return this.counts.keys();
  }

  get size(): number {
    return this.counts.size;
  }
}
