// writeSse over a real HTTP server and real sockets: what a follower gets, that a follower which
// does not read is dropped (the response's backpressure stops the reads, the queue overflows),
// and that one which leaves is unsubscribed.
import { createServer, request, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, describe, expect, it, vi } from "vitest";
import { EventBus } from "../../services/event-bus.js";
import { writeSse } from "./sse-out.js";

const bus = new EventBus({ subscriberBuffer: 50 });
const server: Server = createServer((_req, res) => void writeSse(bus.subscribe({ project: "p" }), res, { "x-t": "1" }));
afterAll(() => new Promise<void>((r) => server.close(() => r())));

async function open(): Promise<IncomingMessage> {
  if (!server.listening) await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: "/" }, resolve);
    req.on("error", reject);
    req.end();
  });
}

describe("writeSse", () => {
  it("answers with the head and `: subscribed`, then the events, queued ones together", async () => {
    const res = await open();
    expect(res.headers["content-type"]).toBe("text/event-stream");
    expect(res.headers["x-t"]).toBe("1");
    res.setEncoding("utf8");
    let text = "";
    res.on("data", (c: string) => (text += c));
    await vi.waitFor(() => expect(text).toContain(": subscribed"));
    bus.publish({ type: "sandbox.created", project: "p", subject: "sb-1" });
    bus.publish({ type: "pool.claimed", project: "other", subject: "sb-x" });
    bus.publish({ type: "pool.claimed", project: "p", subject: "sb-1" });
    await vi.waitFor(() => expect(text).toContain('"type":"pool.claimed"'));
    expect([...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]))).toEqual([1, 3]);
    res.destroy();
    // The follower left: its subscription goes.
    await vi.waitFor(() => expect(bus.stats.subscribers).toBe(0));
  });

  it("drops a follower that does not read, once the socket's buffers and its queue are full", async () => {
    const slow = await open();
    slow.pause();
    await vi.waitFor(() => expect(bus.stats.subscribers).toBe(1));
    const pad = "x".repeat(4096);
    for (let i = 0; i < 2000 && bus.stats.subscribers > 0; i++) {
      bus.publish({ type: "process.started", project: "p", subject: `pr-${i}`, attributes: { pad } });
      await new Promise((r) => setImmediate(r));
    }
    expect(bus.stats).toMatchObject({ subscribers: 0, droppedSubscribers: 1 });
    slow.setEncoding("utf8");
    slow.resume();
    let text = "";
    for await (const c of slow) text += c as string;
    expect(text).toContain(": dropped: the client did not keep up");
    expect(text).not.toContain('"subject":"pr-1999"');
  });
});
