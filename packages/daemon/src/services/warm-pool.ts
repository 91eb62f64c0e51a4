// A few blank sandboxes of the default image kept running, so that `create` only has to apply
// limits (and an egress policy) instead of mounting and starting a container and wiring its
// network: the difference between ~45 ms and ~125 ms to a usable sandbox. `size` blanks with a
// network (slot reserved, veth attached, open policy) and `size` without. Blanks are not in the
// store; a restarted daemon's reconcile removes the old ones and the pool fills again.
import type { EventBus } from "./event-bus.js";
import { newId } from "@sbx-sh/protocol";
import type { Logger } from "../common/log.js";
import { specFor, type SandboxSpec } from "../domain/sandbox-spec.js";
import type { SandboxRuntime } from "../runtime/runtime.js";
import type { ImageService, ResolvedImage } from "./images.js";
import type { NetSlots } from "./net-slots.js";

export interface Blank {
  spec: SandboxSpec;
  image: ResolvedImage;
}

export class WarmPool {
  private readonly ready: Blank[] = [];
  private filling: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly runtime: SandboxRuntime,
    private readonly images: ImageService,
    /** Network slots for blanks, reserved like a build step's until a sandbox record holds them. */
    private readonly slots: NetSlots,
    readonly size: number,
    private readonly log: Logger,
    /** The daemon's event stream (a blank made ready); claims are published by the sandbox service. */
    private readonly bus?: EventBus,
  ) {}

  get available(): number {
    return this.ready.length;
  }

  /**
   * Takes a blank of this image (by id, so a rebuilt base is never served stale) with or without a
   * network, if one is ready. A networked blank's slot stays reserved: the caller releases it once
   * its sandbox record holds the slot (or destroys the blank).
   */
  take(imageId: string, network: boolean): Blank | undefined {
    const i = this.ready.findIndex((b) => b.image.id === imageId && (b.spec.netSlot !== null) === network);
    if (i < 0) return undefined;
    const [blank] = this.ready.splice(i, 1);
    this.refill();
    return blank;
  }

  /** Starts filling in the background; creating blanks one at a time keeps the host responsive. */
  refill(): void {
    if (this.size <= 0 || this.closed || this.filling) return;
    this.filling = this.fill()
      .catch((err: unknown) => this.log.warn({ err }, "warm pool could not create a sandbox"))
      .finally(() => (this.filling = undefined));
  }

  private count(network: boolean): number {
    return this.ready.filter((b) => (b.spec.netSlot !== null) === network).length;
  }

  private async fill(): Promise<void> {
    while (!this.closed && (this.count(true) < this.size || this.count(false) < this.size)) {
      const network = this.count(true) <= this.count(false);
      const image = await this.images.resolve("default", undefined);
      if (image.config.systemd) return;
      const netSlot = network ? await this.slots.reserve() : null;
      const spec = specFor({ kind: "blank", id: newId("sb"), image, netSlot });
      try {
        await this.runtime.create(spec);
      } catch (err) {
        this.release(spec);
        throw err;
      }
      if (this.closed) await this.discard({ spec, image });
      else {
        this.ready.push({ spec, image });
        this.bus?.publish({
          type: "pool.refilled",
          project: "default",
          subject: spec.id,
          attributes: { image: image.name, network, ready: this.ready.length },
        });
      }
    }
  }

  /** Destroys a blank nobody took (or one whose sandbox could not be recorded). */
  async discard(blank: Blank): Promise<void> {
    await this.runtime.destroy(blank.spec.id, blank.spec.netSlot).catch(() => undefined);
    this.release(blank.spec);
  }

  private release(spec: SandboxSpec): void {
    if (spec.netSlot !== null) this.slots.release(spec.netSlot);
  }

  /** Destroys the blanks (daemon shutdown). */
  async close(): Promise<void> {
    this.closed = true;
    await this.filling;
    for (const b of this.ready.splice(0)) await this.discard(b);
  }
}
