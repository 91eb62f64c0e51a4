import { describe, expect, it } from "vitest";
import { ContentCache } from "./content-cache.js";

function clock(start = 1000) {
  let t = start;
  return { now: () => t, tick: (ms = 1) => (t += ms) };
}

describe("ContentCache (LRU of pulled content)", () => {
  it("keeps everything while within the budget", () => {
    const c = clock();
    const cache = new ContentCache(100, [], c.now);
    cache.touch("a", 40);
    cache.touch("b", 60);
    expect(cache.evict(() => false)).toEqual([]);
    expect(cache.totalBytes).toBe(100);
  });

  it("evicts the least recently used first, only as much as needed", () => {
    const c = clock();
    const cache = new ContentCache(100, [], c.now);
    cache.touch("a", 50);
    c.tick();
    cache.touch("b", 50);
    c.tick();
    cache.touch("a"); // a is used again: b is now the oldest
    c.tick();
    cache.touch("c", 30);
    expect(cache.evict(() => false).map((e) => e.key)).toEqual(["b"]);
    expect(cache.has("a") && cache.has("c") && !cache.has("b")).toBe(true);
    expect(cache.totalBytes).toBe(80);
  });

  it("never evicts an entry in use, and goes on to younger ones", () => {
    const c = clock();
    const cache = new ContentCache(50, [], c.now);
    cache.touch("old", 40);
    c.tick();
    cache.touch("mid", 40);
    c.tick();
    cache.touch("new", 40);
    expect(cache.evict((k) => k === "old").map((e) => e.key)).toEqual(["mid", "new"]);
    // Still over budget: the one in use stays anyway.
    expect(cache.has("old")).toBe(true);
    expect(cache.totalBytes).toBe(40);
  });

  it("orders uses within the same millisecond and survives a restart through snapshot()", () => {
    const c = clock();
    const cache = new ContentCache(10, [], c.now);
    cache.touch("x", 10);
    cache.touch("y", 10); // same clock reading: still younger than x
    const again = new ContentCache(10, cache.snapshot(), c.now);
    expect(again.evict(() => false).map((e) => e.key)).toEqual(["x"]);
  });

  it("a budget of 0 keeps only what is in use; a bad budget is refused", () => {
    const cache = new ContentCache(0);
    cache.touch("a", 1);
    cache.touch("b", 1);
    expect(cache.evict((k) => k === "b").map((e) => e.key)).toEqual(["a"]);
    expect(() => new ContentCache(-1)).toThrow(RangeError);
  });
});
