// Garbage collection by reachability. Kept: every layer directory that a live image, a snapshot,
// a sandbox that is not terminated (running or suspended) or a build in progress stands on, and
// image records that are live or still used. Everything else goes: rows first, then directories.
import type { LayerStore } from "../layers/layer-store.js";
import type { ImageStore, Store } from "../store/store.js";
import type { Logger } from "./sandbox-service.js";

export class ImageGc {
  constructor(
    private readonly images: ImageStore,
    private readonly sandboxes: Store,
    private readonly layers: LayerStore,
    /** Layer keys that builds in progress have made or reused and will register soon. */
    private readonly buildingKeys: () => Set<string>,
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
    const swept = await this.layers.sweep(new Set(this.images.listLayers().flatMap((l) => (l.dir ? [l.dir] : []))));
    if (swept.length) this.log.info({ swept }, "removed layer dirs a killed daemon left");
    return { ...collected, swept };
  }

  private async collectOnce(): Promise<{ images: number; layers: number; bytes: number }> {
    const live = this.sandboxes.listSandboxes({ includeTerminated: false });
    const usedImageIds = new Set(live.map((s) => s.imageId));
    const keepKeys = new Set(this.buildingKeys());
    const keepDirs = new Set<string>(live.flatMap((s) => s.lowers ?? []));
    let images = 0;
    for (const img of this.images.listAllImages()) {
      if (img.deletedAt === null || usedImageIds.has(img.id)) {
        for (const l of img.layers) keepKeys.add(l.key);
        keepDirs.add(img.baseDir);
      } else {
        this.images.deleteImage(img.ref);
        images++;
      }
    }
    for (const snap of this.images.listSnapshots()) {
      if (snap.status === "failed") continue;
      for (const l of snap.layers) keepKeys.add(l.key);
      keepDirs.add(snap.baseDir);
    }
    let layers = 0;
    let bytes = 0;
    for (const l of this.images.listLayers()) {
      if (l.dir === null || keepKeys.has(l.key) || keepDirs.has(l.dir)) continue;
      this.images.deleteLayer(l.key);
      await this.layers.remove(l.dir);
      layers++;
      bytes += l.sizeBytes;
    }
    if (images || layers) this.log.info({ images, layers, bytes }, "garbage collected");
    return { images, layers, bytes };
  }
}
