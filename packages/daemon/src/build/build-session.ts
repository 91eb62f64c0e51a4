// The build sandboxes of one build. Consecutive executed steps share one sandbox when the runtime
// can end its processes between steps and hand over its writable layer meanwhile (captureQuiet):
// each step's layer is then what changed since the step before (LayerStore.commitChanges), and a
// step costs its command plus that copy instead of a whole sandbox lifecycle. Without that (no
// agent, a runtime without captureQuiet) every step gets its own sandbox, stopped to be captured.
import { newId } from "@sbx-sh/protocol";
import { specFor } from "../domain/sandbox-spec.js";
import type { CommittedLayer } from "../layers/layer-store.js";
import { ctimeSettleMs, type UpperIndex } from "../layers/upper-diff.js";
import type { BuilderDeps } from "./builder.js";
import { claimReadyBlank } from "./ready-blank.js";

interface Current {
  id: string;
  slot: number | null;
  /** Whether later steps may run in it (captureQuiet works for it). */
  shared: boolean;
  /** What its writable layer held at the last capture (null: not captured yet). */
  index: UpperIndex | null;
  /** When the last capture's index was complete (performance.now()). */
  indexedAt: number;
}

export class BuildSession {
  private current: Current | null = null;
  /** Ended sandboxes' teardowns, which run while the build goes on; close() waits for them. */
  private readonly releases: Promise<void>[] = [];
  /** Whether a networked step ran on the bare base (a blank of it would have served it). */
  private executedOnBase = false;
  /** Whether a step asked for a ready blank (the pool makes its replacement once the build is over). */
  private askedForBlank = false;

  constructor(
    private readonly deps: BuilderDeps,
    /**
     * The build's base: its image id and layer stack (top first), which a ready blank may match;
     * its name and the building project, by which a blank of it is kept for the next build.
     */
    private readonly base?: { id: string; lowers: string[]; name?: string; project?: string },
  ) {}

  /** Whether a shared sandbox is running (a layer written on the host would not show in its root). */
  get live(): boolean {
    return this.current?.shared === true;
  }

  /** The running shared sandbox when it fits the step, else a new one on `lowers`. */
  async sandboxFor(want: { network: boolean; lowers: string[]; env: string[]; hostIds: boolean }): Promise<string> {
    const c = this.current;
    if (c?.shared && (!want.network || c.slot !== null)) {
      // No change of the next step may share a ctime with what the last capture read.
      const wait = c.indexedAt + ctimeSettleMs() - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      return c.id;
    }
    this.end();
    const { runtime } = this.deps;
    // Nothing built yet (the stack is the base's): a ready blank of the base will do.
    const onBase = this.onBase(want);
    if (onBase && want.network) this.executedOnBase = true;
    if (onBase) this.askedForBlank = true;
    const ready = onBase ? await claimReadyBlank(this.deps, { imageId: this.base!.id, ...want }) : undefined;
    if (ready) {
      this.current = { ...ready, shared: runtime.canCaptureQuiet?.(ready.id) === true, index: null, indexedAt: 0 };
      return ready.id;
    }
    const id = newId("bld");
    const slot = want.network ? await this.deps.reserveNetSlot() : null;
    try {
      // Layers of systemd images keep host ids, like their base; they are built without booting systemd.
      await runtime.create(
        specFor({
          kind: "build-step",
          id,
          lowers: want.lowers,
          env: want.env,
          limits: this.deps.limits,
          netSlot: slot,
          hostIds: want.hostIds,
        }),
      );
    } catch (err) {
      // create cleans up after itself; the slot is ours to give back.
      if (slot !== null) this.deps.releaseNetSlot(slot);
      throw err;
    }
    const shared = runtime.captureQuiet !== undefined && runtime.canCaptureQuiet?.(id) === true;
    this.current = { id, slot, shared, index: null, indexedAt: 0 };
    return id;
  }

  private onBase(want: { lowers: string[]; hostIds: boolean }): boolean {
    const b = this.base;
    return (
      b !== undefined &&
      !want.hostIds &&
      b.lowers.length === want.lowers.length &&
      b.lowers.every((l, i) => l === want.lowers[i])
    );
  }

  /** The layer of the step that just ran in `id`: what changed since the last capture. */
  async capture(id: string, key: string): Promise<CommittedLayer> {
    const c = this.current;
    const { runtime, layers } = this.deps;
    if (c?.id === id && c.shared && runtime.captureQuiet) {
      const made = await runtime.captureQuiet(id, (layer) => layers.commitChanges(layer, c.index, key));
      c.index = made.index;
      c.indexedAt = performance.now();
      // Too big to index: the next step starts afresh on the committed layers.
      if (c.index === null) this.end();
      return made.layer;
    }
    try {
      return await runtime.exportLayer(id, { live: false }, (layer) => layers.commit(layer, key));
    } finally {
      this.end();
    }
  }

  /** Tears the current sandbox down in the background; the next step gets a new one. */
  end(): void {
    const c = this.current;
    if (!c) return;
    this.current = null;
    this.releases.push(
      this.deps.runtime
        .destroy(c.id, c.slot)
        .catch(() => undefined)
        // The slot is free again only once its veth is gone.
        .finally(() => {
          if (c.slot !== null) this.deps.releaseNetSlot(c.slot);
        }),
    );
  }

  async close(): Promise<void> {
    this.end();
    await Promise.all(this.releases);
    // Only now, so that making the next build's blank never competes with this build's steps.
    const b = this.base;
    if (this.executedOnBase && b?.name !== undefined)
      this.deps.readyBlanks?.remember?.({ project: b.project ?? "default", ref: b.name, imageId: b.id });
    if (this.askedForBlank) this.deps.readyBlanks?.refill?.();
  }
}
