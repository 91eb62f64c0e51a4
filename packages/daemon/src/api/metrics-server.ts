// Prometheus metrics over HTTP: `GET /metrics` on the unix socket (root-only, like everything on
// it), and on `--metrics-listen HOST:PORT`, a plain listener that serves nothing else and asks for
// no credentials (bind it to loopback or a private network a scraper reaches).
import { createServer, type Server } from "node:http";
import type { Logger } from "../common/log.js";
import type { DaemonMetrics } from "../services/metrics.js";
import type { Api } from "./api-types.js";

export function registerMetricsRoute(app: Api, metrics: DaemonMetrics): void {
  app.get("/metrics", async (c) => {
    const { contentType, body } = await metrics.text();
    return c.body(body, 200, { "content-type": contentType, "cache-control": "no-store" });
  });
}

export function createMetricsServer(metrics: DaemonMetrics, log: Logger): Server {
  return createServer((req, res) => {
    if (req.method !== "GET" || (req.url ?? "").split("?")[0] !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("only GET /metrics is served here\n");
      return;
    }
    metrics.text().then(
      ({ contentType, body }) => res.writeHead(200, { "content-type": contentType }).end(body),
      (err: unknown) => {
        log.error({ err }, "metrics collection failed");
        res.writeHead(500, { "content-type": "text/plain" }).end("metrics collection failed\n");
      },
    );
  });
}
