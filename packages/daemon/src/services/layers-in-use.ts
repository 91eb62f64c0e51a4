// Layers that work in progress holds before any record names them: the steps a build has made or
// reused, the blobs an import or pull is putting in place. Garbage collection keeps them. Builds
// and OCI transfers add their sources when they are constructed; the collector reads them all at
// every collection, so neither side needs the other.

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
