// The build cache of builds that did not finish. A failed or cancelled build registers no image,
// so nothing would keep the layers of the steps it did execute, and the retry after a fix would
// run them all again. As BuildKit does, those layers stay in the step cache for a while (24 h by
// default): garbage collection reads the keys kept here like those of builds in progress. Kept in
// memory, and rebuilt at daemon start from the event logs of the builds that ended recently.
import type { BuildEvent } from "../domain/build-events.js";
import type { BuildRecord } from "../domain/records.js";

export const DEFAULT_BUILD_CACHE_KEEP_MS = 24 * 3600_000;

export class BuildCacheKeep {
  /** Layer key → when it may be collected (ms since the epoch). */
  private readonly until = new Map<string, number>();

  constructor(
    private readonly keepMs: number = DEFAULT_BUILD_CACHE_KEEP_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Keeps these layers for the keep time from when their build ended. */
  keep(keys: Iterable<string>, endedAt: number): void {
    const until = endedAt + this.keepMs;
    for (const k of keys) this.until.set(k, Math.max(until, this.until.get(k) ?? 0));
  }

  /** The keys still kept; expired ones are forgotten. */
  keys(): string[] {
    const now = this.now();
    for (const [k, until] of this.until) if (until <= now) this.until.delete(k);
    return [...this.until.keys()];
  }

  /**
   * Daemon start: the completed steps of failed and cancelled builds that ended within the keep
   * time. The log names each step by its cache key; a step whose layer has a key of its own (a
   * rebuild's, which the step cache points to: `layerOf`) keeps that layer too.
   */
  async load(
    builds: BuildRecord[],
    events: (id: string) => AsyncIterable<BuildEvent>,
    layerOf: (stepKey: string) => Promise<string | undefined> = async () => undefined,
  ): Promise<number> {
    let n = 0;
    for (const b of builds) {
      const ended = b.endedAt ? Date.parse(b.endedAt) : NaN;
      if ((b.state !== "failed" && b.state !== "cancelled") || !(ended + this.keepMs > this.now())) continue;
      const keys = await completedSteps(events(b.id));
      const layers = await Promise.all(keys.map(layerOf));
      this.keep([...keys, ...layers.filter((k): k is string => k !== undefined)], ended);
      n += keys.length;
    }
    return n;
  }
}

/** The cache keys of the steps that ended well in a build's event log (a `step` then its `step_done`). */
export async function completedSteps(events: AsyncIterable<BuildEvent>): Promise<string[]> {
  const started = new Map<number, string>();
  const done: string[] = [];
  for await (const ev of events) {
    if (ev.type === "step") started.set(ev.step, ev.key);
    else if (ev.type === "step_done") {
      const key = started.get(ev.step);
      if (key) done.push(key);
    }
  }
  return done;
}
