// Events and metrics: how fast an event reaches an SSE client, how long a /metrics scrape takes
// with many sandboxes, and whether following events and scraping slow the create path (the same
// create loop with nobody watching, then with three event followers and a scraper, same run), and
// the dashboard's first load with the many sandboxes listed (when the daemon serves --ui on `ui`).
import { request, type ClientRequest } from "node:http";
import { Sandbox, type SandboxClient } from "@sbx-sh/sdk";
import { timeCreateAndRun } from "./create.js";
import { dashboardFirstLoad } from "./dashboard-load.js";
import { atMost, percentile, timeIt, type Section } from "./stats.js";

function scrape(socketPath: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: "/metrics" }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`/metrics: ${res.statusCode}`))));
    });
    req.on("error", reject);
    req.end();
  });
}

/** An event stream (every type) whose bytes are read and dropped. */
function follow(socketPath: string): ClientRequest {
  const req = request({ socketPath, path: "/v1/events" }, (res) => res.resume());
  req.on("error", () => undefined);
  req.end();
  return req;
}

export async function observeSection(
  client: SandboxClient,
  host: string,
  n: number,
  many: number,
  ui?: string,
): Promise<Section> {
  const socketPath = host.replace(/^unix:\/\//, "");
  const failures: string[] = [];

  // Delivery: the event's own time (set when the service published it) to its arrival here.
  const sb = await Sandbox.create({ allowInternetAccess: false }, client);
  const abort = new AbortController();
  const delivery: number[] = [];
  let arrived: (() => void) | undefined;
  const following = (async () => {
    for await (const e of client.events({ types: ["process.started"], sandboxId: sb.id, signal: abort.signal })) {
      delivery.push(Date.now() - Date.parse(e.time));
      arrived?.();
    }
  })().catch(() => undefined);
  await client.info();
  for (let i = 0; i < n; i++) {
    const got = new Promise<void>((r) => (arrived = r));
    await sb.startProcess("true");
    await got;
  }
  abort.abort();
  await following;
  await sb.terminate();

  // Create path, nobody watching vs three followers and a scraper every second (Prometheus' default is 60 s).
  // Short alternating blocks (BLOCK creates each), so a drift of the machine's load or of the warm
  // pool's state over the loop lands on both sides alike. One clock scrapes every second, but only
  // while an "on" block runs.
  const off: number[] = [];
  const on: number[] = [];
  const BLOCK = 4;
  let watching = false;
  const scraper = setInterval(() => void (watching && scrape(socketPath).catch(() => undefined)), 1000);
  for (let block = 0; block < Math.ceil(n / BLOCK); block++) {
    for (let i = 0; i < BLOCK; i++) await timeCreateAndRun(client, off, failures, "a create (off)", {});
    // Raw streams that only drain their bytes: the daemon does all the work of a follower, the
    // bench process (which is also the creating client) almost none.
    const followers = Array.from({ length: 3 }, () => follow(socketPath));
    watching = true;
    for (let i = 0; i < BLOCK; i++) await timeCreateAndRun(client, on, failures, "a create (on)", {});
    watching = false;
    followers.forEach((f) => f.destroy());
  }
  clearInterval(scraper);

  // Scrape with many running sandboxes (per-sandbox series capped at 100).
  const idle = await Promise.all(
    Array.from({ length: many }, () => Sandbox.create({ allowInternetAccess: false, timeoutSecs: 600 }, client)),
  );
  const scrapes: number[] = [];
  let series = 0;
  for (let i = 0; i < 20; i++)
    scrapes.push(
      await timeIt(async () => {
        series = (await scrape(socketPath)).split("\n").filter((l) => l.startsWith("sbx_sandbox_memory_bytes{")).length;
      }),
    );
  // The dashboard with the same sandboxes running: a fresh browser each time, to the list drawn.
  const firstLoad = ui
    ? await dashboardFirstLoad(client, "default", ui, many, 5).catch((e: Error) => e.message)
    : "no --ui";
  for (const s of idle) await s.terminate().catch(() => undefined);

  const ratioOnOff = percentile(on, 50) / percentile(off, 50);
  return {
    title: "Events and metrics",
    rows: [
      {
        what: "event delivery (published → SSE client), p50",
        sbx: percentile(delivery, 50),
        n: delivery.length,
        target: "p50 ≤ 5 ms",
        pass: atMost(percentile(delivery, 50), 5),
      },
      {
        what: `/metrics scrape with ${many} running sandboxes, p50`,
        sbx: percentile(scrapes, 50),
        n: scrapes.length,
        target: many >= 500 ? "≤ 50 ms (500 sandboxes)" : undefined,
        pass: many >= 500 ? atMost(percentile(scrapes, 50), 50) : undefined,
      },
      {
        what: "create → first `true`, p50, 3 event followers + a scrape every second (baseline: nobody watching)",
        sbx: percentile(on, 50),
        baseline: percentile(off, 50),
        baselineName: "same loop, no followers, no scrapes",
        n: on.length,
        target: "≤ 1.05×",
        pass: ratioOnOff <= 1.05,
      },
      ...(typeof firstLoad === "string"
        ? []
        : [
            {
              what: `dashboard first load, navigation → list of ${many} running sandboxes drawn (cold browser), p50`,
              sbx: percentile(firstLoad, 50),
              n: firstLoad.length,
              target: many >= 500 ? "≤ 1 s (500 sandboxes)" : undefined,
              pass: many >= 500 ? atMost(percentile(firstLoad, 50), 1000) : undefined,
            },
          ]),
    ],
    notes: [
      ...failures,
      ...(typeof firstLoad === "string" ? [`dashboard first load not measured: ${firstLoad}`] : []),
      `delivery is measured from the event's own timestamp (ms resolution, same host clock) to its arrival.`,
      `the scrape listed ${series} per-sandbox series (the cap is 100; the others are counted in sbx_sandbox_series_omitted).`,
      "the on/off create loops alternate in blocks of 4 creates, same daemon, same run (scrapes every second while an on block runs); the followers are raw streams drained without parsing, so the bench client pays almost nothing for them.",
    ],
  };
}
