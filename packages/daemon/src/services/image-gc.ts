// Garbage collection by reachability. Kept: every layer directory that a live image, a snapshot,
// a sandbox that is not terminated (running or suspended) or a build in progress stands on, and
// image records that are live or still used. Everything else goes: rows first, then directories.
import type { LayerStore } from "../layers/layer-store.js";
import type { ImageStore, Store } from "../store/store.js";
import type { Logger } from "../common/log.js";
import type { LayersInUse } from "./layers-in-use.js";

export class ImageGc {
  constructor(
    private readonly images: ImageStore,
    private readonly sandboxes: Store,
    private readonly layers: LayerStore,
    /** Layer keys that builds and transfers in progress have made or reused and will register soon. */
    private readonly inUse: LayersInUse,
    private readonly log: Logger,
  ) {}

  private running: Promise<unknown> = Promise.resolve();

  /** One collection at a time: each sees the state the previous one left. */
  collect(): Promise<{ images: number; layers: number; bytes: number }> {
    const next = this.running.then(
      () => this.collectOnce(),
      () => this.collectOnce(),
    );
    this.running = next.catch(() => undefined);
    return next;
  }

  /** Daemon start, before anything runs: a collection, then layer dirs on disk that no store row names. */
  async reconcile(): Promise<{ images: number; layers: number; bytes: number; swept: string[] }> {
    const collected = await this.collect();
    const listed = await this.images.listLayers();
    const swept = await this.layers.sweep(new Set(listed.flatMap((l) => (l.dir ? [l.dir] : []))));
    if (swept.length) this.log.info({ swept }, "removed layer dirs a killed daemon left");
    return { ...collected, swept };
  }

  private async collectOnce(): Promise<{ images: number; layers: number; bytes: number }> {
    // What is kept is decided on one consistent view, and the rows go in the same transaction:
    // nothing written meanwhile (a snapshot naming its new layer) is half seen. The transaction
    // spans both stores.
    const { images, doomed } = await this.sandboxes.transaction(async (tx) => {
      const live = await tx.listSandboxes({ includeTerminated: false });
      const usedImageIds = new Set(live.map((s) => s.imageId));
      const keepKeys = this.inUse.keys();
      const keepDirs = new Set<string>(live.flatMap((s) => s.lowers ?? []));
      let images = 0;
      for (const img of await tx.listAllImages()) {
        if (img.deletedAt === null || usedImageIds.has(img.id)) {
          for (const l of img.layers) keepKeys.add(l.key);
          keepDirs.add(img.baseDir);
        } else {
          await tx.deleteImage(img.ref);
          images++;
        }
      }
      for (const snap of await tx.listSnapshots()) {
        if (snap.status === "failed") continue;
        for (const l of snap.layers) keepKeys.add(l.key);
        keepDirs.add(snap.baseDir);
      }
      const doomed: { dir: string; sizeBytes: number }[] = [];
      for (const l of await tx.listLayers()) {
        if (l.dir === null || keepKeys.has(l.key) || keepDirs.has(l.dir)) continue;
        await tx.deleteLayer(l.key);
        doomed.push({ dir: l.dir, sizeBytes: l.sizeBytes });
      }
      return { images, doomed };
    });
    // Rows first, then directories: a dir left by a failure here is swept at the next start.
    let layers = 0;
    let bytes = 0;
    for (const l of doomed) {
      await this.layers.remove(l.dir);
      layers++;
      bytes += l.sizeBytes;
    }
    if (images || layers) this.log.info({ images, layers, bytes }, "garbage collected");
    return { images, layers, bytes };
  }
}
