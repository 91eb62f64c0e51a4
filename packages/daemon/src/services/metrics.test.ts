import { afterEach, describe, expect, it } from "vitest";
import { DaemonMetrics } from "./metrics.js";
import { startServices, type ServiceHarness } from "./testing/service-harness.js";

let h: ServiceHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** The value of one sample line (`name{labels} value`) in the exposition text. */
function sample(text: string, prefix: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(prefix));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

describe("DaemonMetrics", () => {
  it("counts creates and terminations from the event bus and sandboxes by state and image", async () => {
    h = await startServices();
    const a = await h.sandboxes.create("default", {});
    await h.sandboxes.create("default", {});
    await h.sandboxes.terminate("default", a.id);
    const { body } = await h.metrics.text();
    expect(sample(body, "sbx_sandbox_create_seconds_count")).toBe(2);
    expect(sample(body, 'sbx_sandboxes_terminated_total{reason="requested"}')).toBe(1);
    expect(sample(body, 'sbx_sandboxes{state="running",image="fake-base"}')).toBe(1);
    expect(body).toContain("sbxd_nodejs_eventloop_lag_seconds");
    expect(body).toContain("sbxd_process_resident_memory_bytes");
  });

  it("keeps per-sandbox series under the cap and counts the ones left out", async () => {
    h = await startServices();
    const capped = new DaemonMetrics({
      bus: h.bus,
      stats: h.stats,
      store: h.stores.meta,
      pool: h.pool,
      maxSandboxSeries: 2,
    });
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await h.sandboxes.create("default", {})).id);
    h.runtime.usage.set(ids[0]!, { memoryBytes: 12345 });
    const { body } = await capped.text();
    const series = body.split("\n").filter((l) => l.startsWith("sbx_sandbox_memory_bytes{"));
    expect(series).toHaveLength(2);
    expect(sample(body, "sbx_sandbox_series_omitted")).toBe(1);
    // The next scrape reads again: a terminated sandbox's series are gone, nothing is left out.
    await h.sandboxes.terminate("default", ids[2]!);
    const again = (await capped.text()).body;
    expect(again.split("\n").filter((l) => l.startsWith("sbx_sandbox_memory_bytes{"))).toHaveLength(2);
    expect(sample(again, "sbx_sandbox_series_omitted")).toBe(0);
  });

  it("labels requests by route template and counts exec latency", () => {
    const m = new DaemonMetrics({
      bus: { onEvent: () => undefined, stats: { subscribers: 0, droppedSubscribers: 0 } } as never,
      stats: { all: async () => ({ usage: [], running: 0 }) } as never,
      store: { listSandboxes: async () => [] } as never,
      pool: { available: 0, size: 0 } as never,
    });
    m.observeRequest("POST", "/v1/sandboxes/:id/exec", 200, 0.02);
    m.observeRequest("GET", "/v1/sandboxes/:id", 404, 0.001);
    return m.text().then(({ body }) => {
      expect(sample(body, "sbx_exec_seconds_count")).toBe(1);
      expect(sample(body, 'sbx_http_requests_total{method="GET",route="/v1/sandboxes/:id",status="404"}')).toBe(1);
    });
  });
});
