// A few blank sandboxes of the default image kept running, so that `create` only has to apply
// limits (and an egress policy) instead of mounting and starting a container and wiring its
// network: the difference between ~45 ms and ~125 ms to a usable sandbox. `size` blanks with a
// network (slot reserved, veth attached, open policy) and `size` without. Blanks are not in the
// store; a restarted daemon's reconcile removes the old ones and the pool fills again.
// That default pool is one target among others: sandbox pools (./pool-service.ts) add targets of
// their own image and size. Blanks are matched by image id, and a target whose image name now
// resolves to another id (a rebuild, `--replace`) gets new blanks first, then its old ones go:
// a rolling replacement during which no stale blank is ever served.
import type { EventBus } from "./event-bus.js";
import { newId } from "@sbx-sh/protocol";
import type { Logger } from "../common/log.js";
import { specFor, type SandboxSpec } from "../domain/sandbox-spec.js";
import type { SandboxRuntime } from "../runtime/runtime.js";
import type { ImageService, ResolvedImage } from "./images.js";
import type { NetSlots } from "./net-slots.js";
import { BlanksInMaking } from "./pool-making.js";
import { DEFAULT_TARGET, unwanted, type Blank, type PoolTarget } from "./pool-target.js";

export { DEFAULT_TARGET, type Blank, type PoolTarget } from "./pool-target.js";

/** How long a refill waits after a claim while the pool still has a blank of that kind ready. */
const REFILL_DELAY_MS = 300;
/**
 * Blanks made at once while a kind has none ready (one at a time otherwise). Back-to-back creates
 * empty the pool faster than one make at a time refills it; a make is mostly waiting on crun and
 * the kernel, so two side by side finish well before two in a row would, even on 2 cores.
 */
const DRY_PARALLEL = 2;

export class WarmPool {
  private readonly ready: Blank[] = [];
  private filling: Promise<void> | undefined;
  /** The blanks being made right now, which a create finding none ready may wait for (claim). */
  private readonly making = new BlanksInMaking();
  /** Wakes a fill waiting on its makes: a take emptied a kind, or a target changed. */
  private poke: (() => void) | undefined;
  private poked = false;
  private again = false;
  private closed = false;
  private readonly targets = new Map<string, PoolTarget>();
  /** The image id each target's name resolved to at the last fill. */
  private readonly resolved = new Map<string, string>();
  /** Blanks taken, by image id (pool statistics read it). */
  private readonly taken = new Map<string, number>();

  constructor(
    private readonly runtime: SandboxRuntime,
    private readonly images: ImageService,
    /** Network slots for blanks, reserved like a build step's until a sandbox record holds them. */
    private readonly slots: NetSlots,
    readonly size: number,
    private readonly log: Logger,
    /** The daemon's event stream (a blank made ready); claims are published by the sandbox service. */
    private readonly bus?: EventBus,
  ) {
    if (size > 0)
      this.targets.set(DEFAULT_TARGET, { project: "default", image: undefined, count: size, networks: [true, false] });
  }

  /** Adds or replaces a target (a sandbox pool) and starts filling for it. */
  setTarget(key: string, target: PoolTarget): void {
    this.targets.set(key, target);
    this.refill();
  }

  /** Removes a target; its blanks are destroyed by the next fill. */
  removeTarget(key: string): void {
    this.targets.delete(key);
    this.refill();
  }

  /** Ready blanks of a target whose image is `imageId`. */
  readyFor(key: string, imageId?: string): number {
    return this.ready.filter((b) => b.target === key && (imageId === undefined || b.image.id === imageId)).length;
  }

  /** The image id a target's blanks are made of (as of the last fill), if it has made any. */
  imageOf(key: string): string | undefined {
    return this.targets.has(key) ? this.resolved.get(key) : undefined;
  }

  takenOf(imageId: string): number {
    return this.taken.get(imageId) ?? 0;
  }

  get available(): number {
    return this.ready.length;
  }

  /** Creates waiting for a blank being made (tests). */
  get waiters(): number {
    return this.making.waiters;
  }

  /**
   * Takes a blank of this image (by id, so a rebuilt base is never served stale) with or without a
   * network, if one is ready. A networked blank's slot stays reserved: the caller releases it once
   * its sandbox record holds the slot (or destroys the blank). `target`: only that target's blanks
   * (builds take the default pool's, never a sandbox pool's). `refill: false`: the caller asks
   * for the refill itself, later (refill()).
   */
  take(imageId: string, network: boolean, target?: string, refill = true): Blank | undefined {
    const i = this.ready.findIndex(
      (b) =>
        b.image.id === imageId &&
        (b.spec.netSlot !== null) === network &&
        (target === undefined || b.target === target),
    );
    if (i < 0) return undefined;
    const [blank] = this.ready.splice(i, 1);
    this.taken.set(imageId, (this.taken.get(imageId) ?? 0) + 1);
    // Making a blank (mount, crun run) competes for the CPU with the claimed sandbox's first
    // command: while another blank of this kind is ready, the refill waits a moment.
    if (!refill) return blank;
    if (this.count(blank!.target, imageId, network) > 0) this.refillSoon();
    else this.refill();
    return blank;
  }

  /**
   * As take(), but when no blank of this kind is ready and one is being made right now, waits for
   * that one: it started earlier, so it is ready before a cold create begun now would be, and the
   * two would only slow each other down. That was the tail of back-to-back creates, which empty
   * the pool faster than it refills. One caller at a time waits per blank being made; the others go cold.
   */
  async claim(imageId: string, network: boolean): Promise<Blank | undefined> {
    const ready = this.take(imageId, network);
    if (ready) return ready;
    const made = this.making.waitFor(imageId, network);
    if (!made) return undefined;
    await made;
    return this.take(imageId, network);
  }

  private refillTimer: NodeJS.Timeout | undefined;

  private refillSoon(): void {
    if (this.refillTimer) return;
    this.refillTimer = setTimeout(() => {
      this.refillTimer = undefined;
      this.refill();
    }, REFILL_DELAY_MS);
    this.refillTimer.unref();
  }

  /** Starts filling in the background; creating blanks one at a time keeps the host responsive. */
  refill(): void {
    if (this.closed) return;
    if (this.filling) {
      this.again = true;
      this.poked = true;
      this.poke?.();
      return;
    }
    this.filling = this.fill()
      .catch((err: unknown) => this.log.warn({ err }, "warm pool could not create a sandbox"))
      .finally(() => {
        this.filling = undefined;
        if (this.again) {
          this.again = false;
          this.refill();
        }
      });
  }

  private count(key: string, imageId: string, network: boolean): number {
    return this.ready.filter((b) => b.target === key && b.image.id === imageId && (b.spec.netSlot !== null) === network)
      .length;
  }

  private async fill(): Promise<void> {
    const current = new Map<string, string>();
    const running = new Set<Promise<void>>();
    let failed: { err: unknown } | undefined;
    while (!this.closed && !failed) {
      this.poked = false;
      // A second make beside one under way only for a kind with no blank ready.
      const beside = running.size > 0;
      const next = running.size < DRY_PARALLEL ? await this.nextToMake(current, beside) : undefined;
      if (!next) {
        // Asked for a second make while the first ended meanwhile: ask again, for any kind.
        if (!running.size && !beside) break;
        if (running.size && !this.poked) await Promise.race([...running, new Promise<void>((r) => (this.poke = r))]);
        continue;
      }
      const made: Promise<void> = this.make(next)
        .catch((err: unknown) => void (failed ??= { err }))
        .finally(() => running.delete(made));
      running.add(made);
    }
    this.poke = undefined;
    await Promise.all(running);
    if (failed) throw failed.err;
    if (this.closed) return;
    // Replaced (rolling: only once the new blanks are ready), removed or surplus blanks go. They
    // leave the ready list in one synchronous step, so a take() meanwhile can never get one.
    const gone = unwanted(this.ready, this.targets, current);
    for (const b of gone) this.ready.splice(this.ready.indexOf(b), 1);
    for (const b of gone) await this.discard(b);
  }

  /** Makes one blank for target `key` and puts it in the ready list. */
  private async make({ key, image, network }: { key: string; image: ResolvedImage; network: boolean }): Promise<void> {
    const made = this.making.start(key, image.id, network);
    try {
      const netSlot = network ? await this.slots.reserve() : null;
      const spec = {
        ...specFor({ kind: "blank", id: newId("sb"), image, netSlot }),
        ...this.targets.get(key)?.limits,
      };
      try {
        await this.runtime.create(spec);
      } catch (err) {
        this.release(spec);
        if (this.targets.get(key)?.imageId !== undefined) this.targets.delete(key);
        throw err;
      }
      if (this.closed) await this.discard({ spec });
      else {
        this.ready.push({ spec, image, target: key });
        this.bus?.publish({
          type: "pool.refilled",
          project: this.targets.get(key)?.project ?? "default",
          subject: spec.id,
          attributes: { image: image.name, pool: key, network, ready: this.ready.length },
        });
      }
    } finally {
      // Before the waiter resumes, the blank is in the ready list (or the create failed).
      made();
    }
  }

  /**
   * The next blank some target lacks (counting those being made), its image resolved now (so a
   * re-pointed name is seen). `dryOnly`: only of a kind that has no blank ready.
   */
  private async nextToMake(
    current: Map<string, string>,
    dryOnly: boolean,
  ): Promise<{ key: string; image: ResolvedImage; network: boolean } | undefined> {
    for (const [key, t] of this.targets) {
      let image: ResolvedImage;
      try {
        image = await this.images.resolve(t.project, t.image);
      } catch (err) {
        if (t.imageId !== undefined) this.targets.delete(key);
        else this.log.warn({ err, pool: key }, "warm pool: image does not resolve");
        continue;
      }
      if (t.imageId !== undefined && image.id !== t.imageId) {
        this.targets.delete(key);
        continue;
      }
      if (image.config.systemd) continue;
      current.set(key, image.id);
      this.resolved.set(key, image.id);
      for (const network of t.networks) {
        const ready = this.count(key, image.id, network);
        if ((!dryOnly || ready === 0) && ready + this.making.count(key, image.id, network) < t.count)
          return { key, image, network };
      }
    }
    return undefined;
  }

  /** Destroys a blank nobody took (or one whose sandbox could not be recorded). */
  async discard(blank: Pick<Blank, "spec">): Promise<void> {
    await this.runtime.destroy(blank.spec.id, blank.spec.netSlot).catch(() => undefined);
    this.release(blank.spec);
  }

  private release(spec: SandboxSpec): void {
    if (spec.netSlot !== null) this.slots.release(spec.netSlot);
  }

  /** Destroys the blanks (daemon shutdown). */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.refillTimer);
    await this.filling;
    for (const b of this.ready.splice(0)) await this.discard(b);
  }
}
