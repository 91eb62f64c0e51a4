// The event stream under a flood, over a real HTTP server and real sockets: 10,000 events a second
// (100 every 10 ms, each with 1 KiB of attributes) to a client that reads and one that never does.
// The reader gets every event in order; the other is dropped once its bounded queue is full and
// the socket's buffers are, and the daemon keeps going (the bus keeps one subscriber).
import { request, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { createAdaptorServer } from "@hono/node-server";
import { afterAll, describe, expect, it, vi } from "vitest";
import { EventBus } from "../../services/event-bus.js";
import type { Services } from "../../services/services.js";
import { createApp } from "../app.js";

const bus = new EventBus();
const services = {
  version: "0.0.0-test",
  log: { info: vi.fn(), warn: vi.fn(), error: vi.fn(), child: () => services.log },
  projects: { require: async () => undefined },
  bus,
  info: () => ({ runtime: "fake", cgroupVersion: 2 as const, dataDir: "/tmp" }),
};
const app = createApp(services as unknown as Services, "unix");
const server = createAdaptorServer({ fetch: (req: Request) => app.fetch(req) }) as Server;

afterAll(() => new Promise<void>((r) => server.close(() => r())));

function open(port: number): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: "/v1/events" }, resolve);
    req.on("error", reject);
    req.end();
  });
}

describe("GET /v1/events under 10,000 events a second", () => {
  it("keeps a reading client whole and drops one that does not read", async () => {
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as AddressInfo).port;
    const slow = await open(port);
    slow.pause();
    const fast = await open(port);
    let fastText = "";
    let ids = 0;
    fast.setEncoding("utf8");
    fast.on("data", (c: string) => {
      fastText += c;
      const lines = fastText.split("\n");
      fastText = lines.pop()!;
      ids += lines.filter((l) => l.startsWith("id: ")).length;
    });
    await vi.waitFor(() => expect(bus.stats.subscribers).toBe(2));

    const total = 20_000;
    const pad = "x".repeat(1024);
    let sent = 0;
    await new Promise<void>((done) => {
      const t = setInterval(() => {
        for (let i = 0; i < 100; i++, sent++)
          bus.publish({ type: "process.started", project: "default", subject: `pr-${sent}`, attributes: { pad } });
        if (sent >= total) {
          clearInterval(t);
          done();
        }
      }, 10);
    });

    await vi.waitFor(() => expect(ids).toBe(total), { timeout: 30_000 });
    expect(bus.stats).toMatchObject({ published: total, subscribers: 1, droppedSubscribers: 1 });
    // What the dropped client finds once it reads again: the drop notice, and nothing near the end.
    slow.setEncoding("utf8");
    slow.resume();
    let slowText = "";
    for await (const c of slow) slowText += c as string;
    expect(slowText).toContain(": dropped: the client did not keep up");
    expect(slowText).not.toContain(`"subject":"pr-${total - 1}"`);
    fast.destroy();
  }, 60_000);
});
