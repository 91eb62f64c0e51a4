// Log retention decides what goes once the runtime's output store is over half full: the oldest
// exited processes' output first, until three quarters are free (hysteresis), nothing while there
// is room, and it says when it could not get there.
import { describe, expect, it } from "vitest";
import { pruneLogs, type OutputStore } from "./log-retention.js";

/** An output store of `capacity` KiB holding the given processes' output sizes. */
function store(capacity: number, sizes: Record<string, number>): OutputStore & { held: Record<string, number> } {
  const held = { ...sizes };
  return {
    held,
    usage: async () => Object.values(held).reduce((a, b) => a + b, 0) / capacity,
    discard: async (procId) => void delete held[procId],
  };
}

const ended = (procId: string, day: number) => ({ procId, endedAt: `2026-01-0${day}T00:00:00Z` });

describe("pruneLogs", () => {
  it("does nothing while the output is at most half full, without even listing the exited", async () => {
    const s = store(1024, { a: 512 });
    let asked = false;
    const exited = () => ((asked = true), [ended("a", 1)]);
    expect(await pruneLogs(s, exited)).toBeUndefined();
    expect(asked).toBe(false);
    expect(s.held).toEqual({ a: 512 });
  });

  it("drops the oldest exited processes' output until three quarters are free, and only theirs", async () => {
    const s = store(1024, { old: 200, mid: 150, newer: 100, running: 100 });
    const r = await pruneLogs(s, async () => [ended("newer", 4), ended("old", 2), ended("mid", 3)]);
    // 550 → 350 (still over 256) → 200: two go, not just the one that gets under half.
    expect(r).toEqual({ pruned: 2, last: ended("mid", 3), stuck: false });
    expect(s.held).toEqual({ newer: 100, running: 100 });
  });

  it("says it is stuck when every candidate went and the store is still over a quarter full", async () => {
    const s = store(1024, { old: 100, running: 500 });
    expect(await pruneLogs(s, [ended("old", 1)])).toEqual({ pruned: 1, last: ended("old", 1), stuck: true });
    expect(s.held).toEqual({ running: 500 });
  });
});
