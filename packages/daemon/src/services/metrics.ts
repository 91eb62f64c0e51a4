// The daemon's Prometheus metrics (prom-client): what happened, counted from the event bus
// (creates, builds, steps, snapshots, pool claims), what is, read at scrape time (sandboxes by
// state and image, the warm pool, each running sandbox's cpu/memory/network up to a cap, so a
// host with thousands of sandboxes cannot blow up the series count), the API's requests (the
// api/ layer reports them), and Node's own (event-loop lag, RSS, heap).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { SbxEvent } from "@sbx-sh/protocol";
import type { Store } from "../store/store.js";
import type { EventBus } from "./event-bus.js";
import type { StatsService } from "./stats-service.js";
import type { WarmPool } from "./warm-pool.js";

/** Per-sandbox series beyond this many running sandboxes are left out (and counted as left out). */
export const DEFAULT_SANDBOX_SERIES = 100;

const LATENCY = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const LONG = [0.05, 0.25, 1, 5, 15, 30, 60, 120, 300, 900, 1800];

export interface MetricsDeps {
  bus: EventBus;
  stats: StatsService;
  store: Store;
  pool: WarmPool;
  maxSandboxSeries?: number;
}

export class DaemonMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<"method" | "route" | "status">;
  private readonly requestSeconds: Histogram<"method" | "route">;
  private readonly execSeconds: Histogram;
  private readonly refreshSandboxes: () => Promise<void>;

  constructor(d: MetricsDeps) {
    const r = this.registry;
    collectDefaultMetrics({ register: r, prefix: "sbxd_" });
    const max = d.maxSandboxSeries ?? DEFAULT_SANDBOX_SERIES;
    this.requests = new Counter({
      name: "sbx_http_requests_total",
      help: "API requests by route template and status",
      labelNames: ["method", "route", "status"],
      registers: [r],
    });
    this.requestSeconds = new Histogram({
      name: "sbx_http_request_seconds",
      help: "API request handling time (until the response starts)",
      labelNames: ["method", "route"],
      buckets: LATENCY,
      registers: [r],
    });
    this.execSeconds = new Histogram({
      name: "sbx_exec_seconds",
      help: "POST /v1/sandboxes/{id}/exec: request to response start",
      buckets: LATENCY,
      registers: [r],
    });
    const createSeconds = new Histogram({
      name: "sbx_sandbox_create_seconds",
      help: "Sandbox create to running",
      labelNames: ["warm"],
      buckets: LATENCY,
      registers: [r],
    });
    const ended = new Counter({
      name: "sbx_sandboxes_terminated_total",
      help: "Sandboxes terminated, by reason",
      labelNames: ["reason"],
      registers: [r],
    });
    const processSeconds = new Histogram({
      name: "sbx_process_seconds",
      help: "Processes' run time, start to exit",
      buckets: LONG,
      registers: [r],
    });
    const buildSeconds = new Histogram({
      name: "sbx_build_seconds",
      help: "Builds, start to finish, by final state",
      labelNames: ["state"],
      buckets: LONG,
      registers: [r],
    });
    const stepSeconds = new Histogram({
      name: "sbx_build_step_seconds",
      help: "Build steps, by whether the cache answered",
      labelNames: ["cached"],
      buckets: LATENCY.concat(LONG.slice(4)),
      registers: [r],
    });
    const cache = new Counter({
      name: "sbx_build_cache_total",
      help: "Build steps answered from the cache (hit) or run (miss)",
      labelNames: ["result"],
      registers: [r],
    });
    const snapshotSeconds = new Histogram({
      name: "sbx_snapshot_seconds",
      help: "Snapshot capture time",
      buckets: LONG,
      registers: [r],
    });
    const snapshotBytes = new Histogram({
      name: "sbx_snapshot_bytes",
      help: "Snapshot size (layers the snapshot stacks)",
      buckets: [1e5, 1e6, 1e7, 1e8, 1e9, 1e10],
      registers: [r],
    });
    const pool = new Counter({
      name: "sbx_pool_total",
      help: "Creates that took a warm sandbox (hit) or started one (miss)",
      labelNames: ["result"],
      registers: [r],
    });
    d.bus.onEvent((e: SbxEvent) => {
      const a = e.attributes;
      const ms = (key: string): number | undefined =>
        typeof a[key] === "number" ? (a[key] as number) / 1000 : undefined;
      switch (e.type) {
        case "sandbox.created":
          pool.inc({ result: a.warm ? "hit" : "miss" });
          break;
        case "sandbox.running": {
          const s = ms("startMs");
          if (s !== undefined) createSeconds.observe({ warm: "unknown" }, s);
          break;
        }
        case "sandbox.terminated":
          ended.inc({ reason: String(a.reason ?? "unknown").slice(0, 32) });
          break;
        case "process.exited":
          if (ms("durationMs") !== undefined) processSeconds.observe(ms("durationMs")!);
          break;
        case "build.finished":
          if (ms("durationMs") !== undefined) buildSeconds.observe({ state: String(a.state) }, ms("durationMs")!);
          break;
        case "build.step":
          cache.inc({ result: a.cached ? "hit" : "miss" });
          if (ms("durationMs") !== undefined) stepSeconds.observe({ cached: String(a.cached) }, ms("durationMs")!);
          break;
        case "snapshot.taken":
          if (ms("durationMs") !== undefined) snapshotSeconds.observe(ms("durationMs")!);
          if (typeof a.sizeBytes === "number") snapshotBytes.observe(a.sizeBytes);
          break;
        default:
      }
    });

    new Gauge({
      name: "sbx_sandboxes",
      help: "Sandboxes that are not terminated, by state and image",
      labelNames: ["state", "image"],
      registers: [r],
      async collect() {
        this.reset();
        const counts = new Map<string, { state: string; image: string; n: number }>();
        for (const s of await d.store.listSandboxes({})) {
          const key = `${s.status}\u0000${s.image}`;
          const c = counts.get(key) ?? { state: s.status, image: s.image, n: 0 };
          c.n++;
          counts.set(key, c);
        }
        for (const c of counts.values()) this.set({ state: c.state, image: c.image }, c.n);
      },
    });
    new Gauge({
      name: "sbx_pool_ready",
      help: "Warm sandboxes ready to be claimed",
      registers: [r],
      collect() {
        this.set(d.pool.available);
      },
    });
    new Gauge({
      name: "sbx_pool_target",
      help: "Warm sandboxes the pool keeps per kind (with and without a network)",
      registers: [r],
      collect() {
        this.set(d.pool.size);
      },
    });
    new Gauge({
      name: "sbx_event_subscribers",
      help: "Clients following the event stream",
      registers: [r],
      collect() {
        this.set(d.bus.stats.subscribers);
      },
    });
    new Gauge({
      name: "sbx_event_subscribers_dropped",
      help: "Event stream clients dropped for not keeping up, since the daemon started",
      registers: [r],
      collect() {
        this.set(d.bus.stats.droppedSubscribers);
      },
    });
    const labels = ["sandbox", "project"] as const;
    const cpu = new Gauge({
      name: "sbx_sandbox_cpu_seconds",
      help: `CPU time used by a running sandbox (first ${max} sandboxes)`,
      labelNames: labels,
      registers: [r],
    });
    const mem = new Gauge({
      name: "sbx_sandbox_memory_bytes",
      help: "Memory in use",
      labelNames: labels,
      registers: [r],
    });
    const rx = new Gauge({
      name: "sbx_sandbox_network_rx_bytes",
      help: "Bytes received",
      labelNames: labels,
      registers: [r],
    });
    const tx = new Gauge({
      name: "sbx_sandbox_network_tx_bytes",
      help: "Bytes sent",
      labelNames: labels,
      registers: [r],
    });
    const omitted = new Gauge({
      name: "sbx_sandbox_series_omitted",
      help: "Running sandboxes left out of the per-sandbox series by the cardinality cap",
      registers: [r],
    });
    // Read before the registry serialises (not in collect()): all four families come from one reading.
    this.refreshSandboxes = async () => {
      const { usage, running } = await d.stats.all(max);
      for (const g of [cpu, mem, rx, tx]) g.reset();
      for (const u of usage) {
        const l = { sandbox: u.sandbox.id, project: u.sandbox.project };
        cpu.set(l, u.cpuUsec / 1e6);
        mem.set(l, u.memoryBytes);
        rx.set(l, u.netRxBytes);
        tx.set(l, u.netTxBytes);
      }
      omitted.set(running - usage.length);
    };
  }

  /** One API request, by its route template (never the raw path: ids would be unbounded labels). */
  observeRequest(method: string, route: string, status: number, seconds: number): void {
    this.requests.inc({ method, route, status: String(status) });
    this.requestSeconds.observe({ method, route }, seconds);
    if (method === "POST" && route === "/v1/sandboxes/:id/exec") this.execSeconds.observe(seconds);
  }

  async text(): Promise<{ contentType: string; body: string }> {
    await this.refreshSandboxes();
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
