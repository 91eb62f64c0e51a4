import { describe, expect, it } from "vitest";
import { EventBus } from "../../services/event-bus.js";
import { sseFrame, sseFramesKept } from "./sse-frame.js";
import { MAX_BATCH, sseStream } from "./sse-stream.js";

const text = (c: Uint8Array): string => new TextDecoder().decode(c);
const ids = (c: Uint8Array): number[] => [...text(c).matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));

describe("sseStream", () => {
  it("sends the events queued by the time it pulls as one chunk, at most MAX_BATCH events each, all in order", async () => {
    const bus = new EventBus();
    const reader = sseStream(bus.subscribe({ project: "p" })).getReader();
    expect(text((await reader.read()).value!)).toContain(": subscribed");
    // Published in one tick, like a create's sandbox.created and pool.claimed.
    bus.publish({ type: "sandbox.created", project: "p", subject: "sb-1" });
    bus.publish({ type: "pool.claimed", project: "p", subject: "sb-1" });
    expect(ids((await reader.read()).value!)).toEqual([1, 2]);
    const total = MAX_BATCH * 2 + 5;
    for (let i = 0; i < total; i++) bus.publish({ type: "sandbox.created", project: "p", subject: `sb-${i}` });
    const got: number[] = [];
    const sizes: number[] = [];
    while (got.length < total) {
      const chunk = ids((await reader.read()).value!);
      sizes.push(chunk.length);
      got.push(...chunk);
    }
    expect(got).toEqual(Array.from({ length: total }, (_, i) => i + 3));
    expect(Math.max(...sizes)).toBe(MAX_BATCH);
    await reader.cancel();
    expect(bus.stats.subscribers).toBe(0);
  });

  it("still drops a follower that does not keep up, and says so", async () => {
    const bus = new EventBus({ subscriberBuffer: 4 });
    const reader = sseStream(bus.subscribe({ project: "p" })).getReader();
    await reader.read();
    for (let i = 0; i < 10; i++) bus.publish({ type: "sandbox.created", project: "p", subject: `sb-${i}` });
    let all = "";
    for (let r = await reader.read(); !r.done; r = await reader.read()) all += text(r.value);
    expect(all).toContain(": dropped: the client did not keep up");
    expect(all).not.toContain("id: ");
    expect(bus.stats).toMatchObject({ subscribers: 0, droppedSubscribers: 1 });
  });

  it("keeps a quiet stream alive, without piling keepalives up for a client that does not read", async () => {
    const bus = new EventBus();
    const reader = sseStream(bus.subscribe({ project: "p" }), 10).getReader();
    await reader.read();
    expect(text((await reader.read()).value!)).toBe(": keepalive\n\n");
    // Many ticks while nothing reads: one keepalive waits, then the event, not a keepalive per tick.
    await new Promise((r) => setTimeout(r, 150));
    bus.publish({ type: "sandbox.created", project: "p", subject: "sb-1" });
    await new Promise((r) => setImmediate(r));
    expect(text((await reader.read()).value!)).toBe(": keepalive\n\n");
    expect(ids((await reader.read()).value!)).toEqual([1]);
    await reader.cancel();
  });
});

describe("sseFrame", () => {
  it("serialises an event once for every follower, and keeps a bounded number of frames", () => {
    const bus = new EventBus();
    const e = bus.publish({ type: "sandbox.created", project: "p", subject: "sb-1", attributes: { name: "a" } });
    const frame = sseFrame(e);
    expect(sseFrame(e)).toBe(frame);
    expect(text(frame)).toBe(`id: 1\ndata: ${JSON.stringify(e)}\n\n`);
    for (let i = 0; i < 1000; i++) sseFrame(bus.publish({ type: "sandbox.created", project: "p", subject: `x-${i}` }));
    expect(sseFramesKept()).toBeLessThanOrEqual(256);
    // Out of the memo now: serialised again, the same bytes.
    expect(sseFrame(e)).not.toBe(frame);
    expect(text(sseFrame(e))).toBe(text(frame));
  });
});
