// The build cache of failed builds: kept for the keep time from the build's end, then forgotten;
// rebuilt from event logs with only the steps that ended well.
import { describe, expect, it } from "vitest";
import type { BuildEvent } from "../domain/build-events.js";
import type { BuildRecord } from "../domain/records.js";
import { BuildCacheKeep, completedSteps } from "./build-cache-keep.js";

const HOUR = 3600_000;

async function* events(list: BuildEvent[]): AsyncGenerator<BuildEvent> {
  yield* list;
}
const step = (n: number, key: string): BuildEvent => ({
  type: "step",
  step: n,
  total: 3,
  text: `RUN ${n}`,
  cached: false,
  key,
});
const done = (n: number): BuildEvent => ({ type: "step_done", step: n, cached: false, durationMs: 1, layer: null });

describe("BuildCacheKeep", () => {
  it("keeps keys for the keep time from the build's end, then forgets them", () => {
    let now = 10 * HOUR;
    const keep = new BuildCacheKeep(2 * HOUR, () => now);
    keep.keep(["a", "b"], now);
    keep.keep(["b"], now + HOUR);
    expect(keep.keys().sort()).toEqual(["a", "b"]);
    now += 2 * HOUR;
    expect(keep.keys()).toEqual(["b"]);
    now += HOUR;
    expect(keep.keys()).toEqual([]);
  });

  it("loads the completed steps of failed and cancelled builds that ended within the keep time", async () => {
    const now = 100 * HOUR;
    const keep = new BuildCacheKeep(24 * HOUR, () => now);
    const rec = (id: string, state: BuildRecord["state"], endedHoursAgo: number): BuildRecord =>
      ({ id, state, endedAt: new Date(now - endedHoursAgo * HOUR).toISOString() }) as BuildRecord;
    const logs: Record<string, BuildEvent[]> = {
      recent: [step(1, "k1"), done(1), step(2, "k2"), done(2), step(3, "k3")],
      cancelled: [step(1, "c1"), done(1)],
      old: [step(1, "o1"), done(1)],
    };
    const n = await keep.load(
      [rec("recent", "failed", 1), rec("cancelled", "cancelled", 2), rec("old", "failed", 30)],
      (id) => events(logs[id]!),
    );
    expect(n).toBe(3);
    expect(keep.keys().sort()).toEqual(["c1", "k1", "k2"]);
  });

  it("also keeps the layer the step cache points a loaded step to (a rebuild's layer under a key of its own)", async () => {
    const now = 100 * HOUR;
    const keep = new BuildCacheKeep(24 * HOUR, () => now);
    const failed = { id: "b", state: "failed", endedAt: new Date(now - HOUR).toISOString() } as BuildRecord;
    const pointers: Record<string, string> = { k1: "fresh1" };
    await keep.load(
      [failed],
      () => events([step(1, "k1"), done(1), step(2, "k2"), done(2)]),
      async (k) => pointers[k],
    );
    expect(keep.keys().sort()).toEqual(["fresh1", "k1", "k2"]);
  });

  it("counts a step only once it ended well", async () => {
    expect(await completedSteps(events([step(1, "a"), done(1), step(2, "b")]))).toEqual(["a"]);
  });
});
