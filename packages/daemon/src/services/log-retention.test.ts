// Log retention decides what goes once the runtime's output store is over half full: the oldest
// exited processes' output first, until half is free, and nothing while there is room.
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

describe("pruneLogs", () => {
  it("does nothing while the output is at most half full, without even listing the exited", async () => {
    const s = store(1024, { a: 256 });
    let asked = false;
    const exited = () => ((asked = true), [{ procId: "a", endedAt: "2026-01-01T00:00:00Z" }]);
    expect(await pruneLogs(s, exited)).toBe(0);
    expect(asked).toBe(false);
    expect(s.held).toEqual({ a: 256 });
  });

  it("drops the oldest exited processes' output until half is free, and only theirs", async () => {
    const s = store(1024, { old: 300, newer: 200, running: 100 });
    const pruned = await pruneLogs(s, async () => [
      { procId: "newer", endedAt: "2026-01-03T00:00:00Z" },
      { procId: "old", endedAt: "2026-01-02T00:00:00Z" },
    ]);
    expect(pruned).toBe(1);
    expect(s.held).toEqual({ newer: 200, running: 100 });
  });
});
