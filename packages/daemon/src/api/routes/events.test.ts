import { describe, expect, it, vi } from "vitest";
import { EventBus } from "../../services/event-bus.js";
import type { Services } from "../../services/services.js";
import { createApp } from "../app.js";

function setup(bus: EventBus) {
  const services = {
    version: "0.0.0-test",
    log: { info: vi.fn(), warn: vi.fn(), error: vi.fn() },
    projects: { require: async () => undefined },
    bus,
    info: () => ({ runtime: "fake", cgroupVersion: 2 as const, dataDir: "/tmp" }),
  };
  return createApp(services as unknown as Services, "unix");
}

async function readAll(res: Response): Promise<string> {
  return new TextDecoder().decode(await new Response(res.body).arrayBuffer());
}

describe("GET /v1/events", () => {
  it("sends each event with its id and resumes after Last-Event-ID", async () => {
    const bus = new EventBus();
    const app = setup(bus);
    for (let i = 0; i < 3; i++) bus.publish({ type: "sandbox.created", project: "default", subject: `sb-${i}` });
    bus.publish({ type: "sandbox.created", project: "other", subject: "sb-x" });
    const res = await app.request("/v1/events", { headers: { "last-event-id": "1" } });
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const reader = res.body!.getReader();
    let text = "";
    while (!text.includes("sb-2")) text += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    expect(text).toMatch(/id: 2\ndata: \{[^\n]*"subject":"sb-1"/);
    expect(text).toMatch(/id: 3\ndata: \{[^\n]*"subject":"sb-2"/);
    expect(text).not.toContain("sb-0");
    expect(text).not.toContain("sb-x");
    expect(bus.stats.subscribers).toBe(0);
  });

  it("drops a client that does not read once its queue is full, and the bus goes on", async () => {
    const bus = new EventBus({ subscriberBuffer: 100 });
    const app = setup(bus);
    const res = await app.request("/v1/events");
    expect(bus.stats.subscribers).toBe(1);
    for (let i = 0; i < 10_000; i++) bus.publish({ type: "process.started", project: "default", subject: `pr-${i}` });
    expect(bus.stats).toMatchObject({ subscribers: 0, droppedSubscribers: 1, published: 10_000 });
    const text = await readAll(res);
    expect(text).toContain(": dropped: the client did not keep up");
    expect(text).not.toContain("pr-9999");
  });

  it("refuses a Last-Event-ID that is not an event id", async () => {
    const app = setup(new EventBus());
    const res = await app.request("/v1/events", { headers: { "last-event-id": "abc" } });
    expect(res.status).toBe(400);
  });
});
