// Garbage collection by reachability. Kept: every layer directory that a live image, a snapshot,
// a sandbox that is not terminated (running or suspended) or a build in progress stands on, and
// image records that are live or still used. Everything else goes: rows first, then directories,
// and the rows of config-only steps chained from what went (build/step-cache.ts).
// A layer's dir is moved aside before its row goes and decided again after (collectOnce), so an
// import or build that takes the same key up meanwhile never loses its dir.
import type { LayerStore } from "../layers/layer-store.js";
import type { LayerRecord } from "../domain/records.js";
import type { ImageStore, Store, StoreTx } from "../store/store.js";
import type { Logger } from "../common/log.js";
import type { LayersInUse } from "./layers-in-use.js";
import { staleConfigSteps } from "../build/step-cache.js";

export class ImageGc {
  constructor(
    private readonly images: ImageStore,
    private readonly sandboxes: Store,
    private readonly layers: LayerStore,
    /** Layer keys that builds and transfers in progress have made or reused and will register soon. */
    private readonly inUse: LayersInUse,
    private readonly log: Logger,
    /** Runs after a collection removed layers (the OCI blob cache drops their blobs). */
    private readonly onCollected?: () => Promise<unknown>,
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
    // 1. What is kept is decided on one consistent view (the transaction spans both stores), and
    //    unused images go in it; the layers nothing stands on are only picked here.
    const { images, picked } = await this.sandboxes.transaction(async (tx) => {
      const keep = await this.kept(tx, true);
      const picked = (await tx.listLayers()).filter(
        (l): l is LayerRecord & { dir: string } => l.dir !== null && !keep.keys.has(l.key) && !keep.dirs.has(l.dir),
      );
      return { images: keep.imagesDeleted, picked };
    });
    // 2. Each picked dir is moved out of its name in the layer store's turn for that dir, unless an
    //    import or build holds its key by then: from here on nothing can reuse it (whoever looks
    //    finds no dir and makes a fresh one), so removing it later cannot take a dir from under them.
    const claimed: Array<{ layer: LayerRecord & { dir: string }; trash: string | null }> = [];
    for (const l of picked) {
      const trash = await this.layers.claim(l.dir, () => this.inUse.keys().has(l.key));
      if (trash !== "held") claimed.push({ layer: l, trash });
    }
    // 3. Decided again: a key taken up since step 1 (held, or named by an image registered
    //    meanwhile) keeps its row, and its dir goes back unless a fresh one of the key took its place.
    let steps = 0;
    const gone = await this.sandboxes
      .transaction(async (tx) => {
        const keep = await this.kept(tx, false);
        const gone = new Set<(typeof claimed)[number]>();
        for (const c of claimed) {
          if (keep.keys.has(c.layer.key) || keep.dirs.has(c.layer.dir)) continue;
          await tx.deleteLayer(c.layer.key);
          gone.add(c);
        }
        // Then the config steps' rows that chained from what is gone (they hold no directory).
        const stale = staleConfigSteps(await tx.listLayers(), keep.keys);
        for (const key of stale) await tx.deleteLayer(key);
        steps = stale.length;
        return gone;
      })
      .catch(async (err: unknown) => {
        // Nothing was deleted: every row still names its dir, so each goes back.
        for (const c of claimed) if (c.trash) await this.layers.unclaim(c.trash, c.layer.dir);
        throw err;
      });
    // Rows first, then directories: a dir left by a failure here is swept at the next start.
    for (const c of claimed) {
      if (!c.trash) continue;
      if (gone.has(c)) await this.layers.remove(c.trash);
      else await this.layers.unclaim(c.trash, c.layer.dir);
    }
    const layers = gone.size;
    const bytes = [...gone].reduce((sum, c) => sum + c.layer.sizeBytes, 0);
    if (images || layers || steps) this.log.info({ images, layers, bytes, steps }, "garbage collected");
    if (layers)
      await this.onCollected?.().catch((err: unknown) => this.log.warn({ err }, "cleanup after collection failed"));
    return { images, layers, bytes };
  }

  /**
   * The layer keys and dirs that live images, snapshots, sandboxes that are not terminated and
   * work in progress stand on; with `deleteUnused`, the removed images nothing uses go.
   */
  private async kept(
    tx: StoreTx,
    deleteUnused: boolean,
  ): Promise<{ keys: Set<string>; dirs: Set<string>; imagesDeleted: number }> {
    const live = await tx.listSandboxes({ includeTerminated: false });
    const usedImageIds = new Set(live.map((s) => s.imageId));
    const keys = this.inUse.keys();
    const dirs = new Set<string>(live.flatMap((s) => s.lowers ?? []));
    let imagesDeleted = 0;
    for (const img of await tx.listAllImages()) {
      if (img.deletedAt === null || usedImageIds.has(img.id)) {
        for (const l of img.layers) keys.add(l.key);
        dirs.add(img.baseDir);
      } else if (deleteUnused) {
        await tx.deleteImage(img.ref);
        imagesDeleted++;
      }
    }
    for (const snap of await tx.listSnapshots()) {
      if (snap.status === "failed") continue;
      for (const l of snap.layers) keys.add(l.key);
      dirs.add(snap.baseDir);
    }
    return { keys, dirs, imagesDeleted };
  }
}
