// Garbage collection of images and layers by reachability: an image record stays while it is
// live or a sandbox runs from it; a layer stays while such an image or a running build uses it.
// Everything else is deleted — database rows first, then directories.
import type { LayerStore } from "../snapshots/layer-store.js";
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

  async collect(): Promise<{ images: number; layers: number; bytes: number }> {
    const usedImageIds = new Set(this.sandboxes.listSandboxes({ includeTerminated: false }).map((s) => s.imageId));
    const keep = new Set(this.buildingKeys());
    let images = 0;
    for (const img of this.images.listAllImages()) {
      if (img.deletedAt === null || usedImageIds.has(img.id)) {
        for (const l of img.layers) keep.add(l.key);
      } else {
        this.images.deleteImage(img.ref);
        images++;
      }
    }
    let layers = 0;
    let bytes = 0;
    for (const l of this.images.listLayers()) {
      if (l.dir === null || keep.has(l.key)) continue;
      this.images.deleteLayer(l.key);
      await this.layers.remove(l.dir);
      layers++;
      bytes += l.sizeBytes;
    }
    if (images || layers) this.log.info({ images, layers, bytes }, "garbage collected");
    return { images, layers, bytes };
  }
}
