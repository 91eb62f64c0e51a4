// HeldKeys as garbage collection sees it through LayersInUse: a key two holders hold stays kept
// until both have released it, whichever releases first.
import { describe, expect, it } from "vitest";
import { HeldKeys, LayersInUse } from "./layers-in-use.js";

describe("HeldKeys", () => {
  it("keeps a key two holders hold until the second releases it", () => {
    const held = new HeldKeys();
    const inUse = new LayersInUse();
    inUse.add(() => held.keys());
    held.hold(["shared", "first-only"]);
    held.hold(["shared"]);
    held.release(["shared", "first-only"]);
    expect(inUse.keys()).toEqual(new Set(["shared"]));
    held.release(["shared"]);
    expect(inUse.keys()).toEqual(new Set());
    expect(held.size).toBe(0);
  });

  it("counts a key named twice by one holder twice", () => {
    const held = new HeldKeys();
    held.hold(["a", "a"]);
    held.release(["a"]);
    expect([...held.keys()]).toEqual(["a"]);
    held.release(["a"]);
    expect(held.size).toBe(0);
  });
});
