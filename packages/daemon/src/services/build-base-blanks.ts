// Ready sandboxes for builds (build/ready-blank.ts): a build's first executed step takes a blank of
// the default warm pool when the build sits on the default image, and otherwise a blank of a
// *build base* target: a base that a build executed a step on recently. Iterating on a Dockerfile
// rebuilds on the same base again and again, and without a blank every such build pays a whole
// sandbox create (mounts, crun create, veth, crun start: ~1.8× a raw crun lifecycle) before its
// first command. So each build that executes on a base keeps one networked blank of it warm.
//
// Bounded, so that builds never take much from the sandboxes users run: at most MAX_BASES bases
// (the least recently built-on one is dropped first), one blank each, and a base is dropped
// TTL_MS after its last build (its blank is destroyed by the pool's next fill). A daemon without
// a warm pool (--warm-pool 0) keeps none. A blank is an idle sandbox: its agent (well under 1 MB),
// an empty writable tmpfs, a network slot and a uid range; its memory limit is a cap, not a
// reservation. Blanks of user pools (sandbox pools) are never taken by builds.
import type { ReadyBlank, ReadyBlanks } from "../build/ready-blank.js";
import { DEFAULT_TARGET, type PoolTarget, type WarmPool } from "./warm-pool.js";

/** How many build bases keep a blank at once. */
export const MAX_BASES = 2;
/** How long a base keeps its blank after the last build that executed a step on it. */
export const TTL_MS = 10 * 60_000;

const TARGET_PREFIX = "build-base:";

export class BuildBaseBlanks implements ReadyBlanks {
  /** Build bases by image id, least recently built-on first, with the timer that drops each. */
  private readonly recent = new Map<string, NodeJS.Timeout>();

  constructor(
    /** The daemon's warm pool (a thunk: the wiring makes the pool after the builder). */
    private readonly poolOf: () => Pick<
      WarmPool,
      "size" | "take" | "discard" | "setTarget" | "removeTarget" | "imageOf" | "refill"
    >,
    /** `limits`: a build step's, given to the blanks up front so that taking one changes no limit. */
    private readonly opts: { maxBases?: number; ttlMs?: number; limits?: PoolTarget["limits"] } = {},
  ) {}

  private get pool() {
    return this.poolOf();
  }

  take(imageId: string, network: boolean): ReadyBlank | undefined {
    // Either blank is made again once the build is over (refill), not beside its steps: a step
    // that floods its output already keeps the CPU busy, and the API must keep its latency.
    return (
      this.pool.take(imageId, network, DEFAULT_TARGET, false) ??
      this.pool.take(imageId, network, targetKey(imageId), false)
    );
  }

  refill(): void {
    this.pool.refill();
  }

  discard(blank: ReadyBlank): Promise<void> {
    return this.pool.discard(blank);
  }

  /**
   * A build executed a step on this base (`ref` as the build named it, resolving to `imageId` in
   * `project`): keep one networked blank of it for the next build, or keep it longer.
   */
  remember(base: { project: string; ref: string; imageId: string }): void {
    // The default pool keeps blanks of its image anyway.
    if (this.pool.size <= 0 || this.pool.imageOf(DEFAULT_TARGET) === base.imageId) return;
    const key = targetKey(base.imageId);
    const known = this.recent.get(base.imageId);
    if (known) {
      clearTimeout(known);
      // Its blank, if this build took it.
      this.pool.refill();
    } else {
      this.evictBeyond((this.opts.maxBases ?? MAX_BASES) - 1);
      // Pinned to the id: a name re-pointed meanwhile (a rebuild) drops the target instead of
      // warming an image no build on this base would take.
      this.pool.setTarget(key, {
        project: base.project,
        image: base.ref,
        imageId: base.imageId,
        count: 1,
        networks: [true],
        ...(this.opts.limits ? { limits: this.opts.limits } : {}),
      });
    }
    this.recent.delete(base.imageId);
    const timer = setTimeout(() => this.forget(base.imageId), this.opts.ttlMs ?? TTL_MS);
    timer.unref();
    this.recent.set(base.imageId, timer);
  }

  /** The image ids of the bases that keep a blank, least recently built-on first. */
  get bases(): string[] {
    return [...this.recent.keys()];
  }

  /** Drops every build base (daemon shutdown); the pool destroys their blanks. */
  close(): void {
    for (const id of [...this.recent.keys()]) this.forget(id);
  }

  private evictBeyond(keep: number): void {
    for (const id of [...this.recent.keys()].slice(0, Math.max(0, this.recent.size - keep))) this.forget(id);
  }

  private forget(imageId: string): void {
    clearTimeout(this.recent.get(imageId));
    this.recent.delete(imageId);
    this.pool.removeTarget(targetKey(imageId));
  }
}

function targetKey(imageId: string): string {
  return TARGET_PREFIX + imageId;
}
