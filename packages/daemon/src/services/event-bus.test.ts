import { describe, expect, it } from "vitest";
import type { SbxEvent } from "@sbx-sh/protocol";
import { EventBus, type EventSubscription } from "./event-bus.js";

async function take(sub: EventSubscription, n: number): Promise<SbxEvent[]> {
  const out: SbxEvent[] = [];
  if (n === 0) return out;
  for await (const e of sub) {
    out.push(e);
    if (out.length >= n) break;
  }
  return out;
}

describe("EventBus", () => {
  it("delivers a project's events only to that project's subscribers, by type prefix", async () => {
    const bus = new EventBus();
    const a = bus.subscribe({ project: "a", types: ["sandbox"] });
    const all = bus.subscribe({ project: null });
    bus.publish({ type: "sandbox.created", project: "b", subject: "sb-b" });
    bus.publish({ type: "process.started", project: "a", subject: "pr-1", sandboxId: "sb-a" });
    bus.publish({ type: "sandbox.created", project: "a", subject: "sb-a" });
    expect((await take(a, 1)).map((e) => [e.type, e.subject])).toEqual([["sandbox.created", "sb-a"]]);
    expect((await take(all, 3)).map((e) => e.id)).toEqual([1, 2, 3]);
  });

  it("replays what a resuming client missed, and says when history no longer reaches back", async () => {
    const bus = new EventBus({ historySize: 3 });
    for (let i = 0; i < 5; i++) bus.publish({ type: "sandbox.created", project: "p", subject: `sb-${i}` });
    const resumed = bus.subscribe({ project: "p", after: 3 });
    expect((await take(resumed, 2)).map((e) => e.subject)).toEqual(["sb-3", "sb-4"]);
    const late = bus.subscribe({ project: "p", after: 0 });
    const got = await take(late, 4);
    expect(got[0]!.type).toBe("events.lost");
    expect(got.slice(1).map((e) => e.id)).toEqual([3, 4, 5]);
    // An id from before a restart (larger than any now) is a loss too, not silence.
    const stale = bus.subscribe({ project: "p", after: 99 });
    expect((await take(stale, 1))[0]!.type).toBe("events.lost");
  });

  it("drops a subscriber whose queue overflows and keeps publishing to the others", async () => {
    const bus = new EventBus({ subscriberBuffer: 10 });
    const slow = bus.subscribe({ project: "p" });
    const fast = bus.subscribe({ project: "p" });
    const received: number[] = [];
    const reading = (async () => {
      for await (const e of fast) {
        received.push(e.id);
        if (e.id === 100) break;
      }
    })();
    for (let i = 0; i < 100; i++) {
      bus.publish({ type: "sandbox.created", project: "p", subject: `sb-${i}` });
      await Promise.resolve();
      await Promise.resolve();
    }
    await reading;
    expect(received).toHaveLength(100);
    expect(slow.overflowed).toBe(true);
    expect(await take(slow, 5)).toEqual([]);
    expect(bus.stats.droppedSubscribers).toBe(1);
    expect(bus.stats.subscribers).toBe(0);
  });

  it("replays more retained history than a subscriber's buffer without dropping it, then still bounds live events", async () => {
    const bus = new EventBus({ subscriberBuffer: 10 });
    for (let i = 0; i < 50; i++) bus.publish({ type: "sandbox.created", project: "p", subject: `sb-${i}` });
    const resumed = bus.subscribe({ project: "p", after: 0 });
    bus.publish({ type: "sandbox.running", project: "p", subject: "sb-live" });
    const got = await take(resumed, 51);
    expect(got.map((e) => e.id)).toEqual(Array.from({ length: 51 }, (_, i) => i + 1));
    expect(resumed.overflowed).toBe(false);
    const late = bus.subscribe({ project: "p", after: 0 });
    for (let i = 0; i < 11; i++) bus.publish({ type: "sandbox.created", project: "p", subject: `x-${i}` });
    expect(late.overflowed).toBe(true);
  });

  it("takes queued events at once, replayed ones included, and still bounds the live ones after", () => {
    const bus = new EventBus({ subscriberBuffer: 10 });
    for (let i = 0; i < 30; i++) bus.publish({ type: "sandbox.created", project: "p", subject: `sb-${i}` });
    const resumed = bus.subscribe({ project: "p", after: 0 });
    expect(resumed.take(20).map((e) => e.id)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(resumed.take(100).map((e) => e.id)).toEqual(Array.from({ length: 10 }, (_, i) => i + 21));
    expect(resumed.take(5)).toEqual([]);
    // Nothing replayed is left: the 11th live event waiting is one too many.
    for (let i = 0; i < 10; i++) bus.publish({ type: "sandbox.created", project: "p", subject: `x-${i}` });
    expect(resumed.overflowed).toBe(false);
    bus.publish({ type: "sandbox.created", project: "p", subject: "x-10" });
    expect(resumed.overflowed).toBe(true);
  });
});
