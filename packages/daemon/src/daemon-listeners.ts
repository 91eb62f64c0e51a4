// What the daemon listens on: the port proxy (a control plane's relay to its nodes instead), the
// API on the unix socket (root only) and on --listen-tcp (TLS when configured), and the metrics
// endpoint. Apart from the daemon's wiring because each listener has rules of its own: where it
// listens, who may reach it, and a control replica's fast path in front of its API.
import { chmod, mkdir, rm } from "node:fs/promises";
import type { Server } from "node:http";
import type { ServerOptions as TlsServerOptions } from "node:https";
import { join } from "node:path";
import { createAdaptorServer } from "@hono/node-server";
import type { Logger as Pino } from "pino";
import { tlsServerOptions } from "./api/tls-listener.js";
import { createApp, type Transport } from "./api/app.js";
import { fastPathServer } from "./api/cluster-fast-path.js";
import { DeferredRequestLog } from "./api/deferred-request-log.js";
import { createPortProxy } from "./api/port-proxy.js";
import { createMetricsServer } from "./api/metrics-server.js";
import { createClusterPortRelay } from "./api/cluster-port-relay.js";
import type { ClusterRouting } from "./cluster/cluster-role.js";
import type { DaemonMetrics } from "./services/metrics.js";
import type { PortService, ProxyAddress } from "./services/port-service.js";
import type { Services } from "./services/services.js";
import type { DaemonConfig } from "./config.js";

/** The API's request handler, as the HTTP servers call it. */
export type ApiHandler = (request: Request, env: unknown) => Response | Promise<Response>;

/**
 * The port proxy on --proxy-listen, or null without it. Started before the API: the API describes
 * exposed ports with the address it listens on. A control plane runs no sandboxes: it relays each
 * port's requests to the node that runs it (`relayTo.routing`, set once the cluster role started).
 */
export async function startPortProxy(
  cfg: DaemonConfig,
  ports: PortService,
  log: Pino,
  relayTo: { routing?: ClusterRouting },
): Promise<{ server: Server; address: ProxyAddress } | null> {
  if (!cfg.proxyListen) return null;
  const [host, port] = splitHostPort(cfg.proxyListen, "--proxy-listen", true);
  const server =
    cfg.role === "control"
      ? createClusterPortRelay(relayTo, cfg.proxyDomain, log)
      : // A node with a certificate serves its port proxy over TLS too: the relay verifies it (--node-ca).
        createPortProxy(ports, log, undefined, cfg.role === "node" ? nodeProxyTls(cfg) : undefined);
  await listen(server, port, host);
  return { server, address: { domain: cfg.proxyDomain, port: (server.address() as { port: number }).port } };
}

/**
 * The API on the unix socket, and on --listen-tcp and --metrics-listen when given. `stopLines`,
 * called once the servers closed, writes the fast path's deferred request lines (if any) and stops
 * writing them at exit.
 */
export async function startApiServers(
  cfg: DaemonConfig,
  services: Services,
  o: { log: Pino; metrics: DaemonMetrics; wrapHandler?: ((handler: ApiHandler) => ApiHandler) | undefined },
): Promise<{ servers: Server[]; stopLines(): void }> {
  const { log, metrics, wrapHandler } = o;
  const servers: Server[] = [];
  await rm(cfg.socket, { force: true });
  await mkdir(join(cfg.socket, ".."), { recursive: true, mode: 0o700 });
  const handler = (app: ReturnType<typeof createApp>): ApiHandler => (wrapHandler ? wrapHandler(app.fetch) : app.fetch);
  const unixApp = createApp(services, "unix");
  // A control replica serves the forwarded calls that need nothing of the app in front of it
  // (api/cluster-fast-path.ts); not when a test wraps the app's handler to see every request.
  const routing = wrapHandler ? undefined : services.cluster;
  const fastLines = routing ? new DeferredRequestLog(log, metrics) : undefined;
  // A control replica that exits on a crash still writes the lines of its last calls (its log is sync).
  const flushLines = (): void => fastLines?.flush();
  if (fastLines) process.on("exit", flushLines);
  const fastPath = (transport: Transport, create?: unknown): Record<string, unknown> =>
    routing && fastLines
      ? {
          createServer: fastPathServer(
            { cluster: routing, projects: services.projects, log, lines: fastLines },
            transport,
            create as Parameters<typeof fastPathServer>[2],
          ),
        }
      : {};
  const unix = createAdaptorServer({ fetch: handler(unixApp), ...fastPath("unix") }) as Server;
  unixApp.injectWebSocket(unix);
  // Longer than clients keep idle connections, so the daemon rarely closes one under them.
  unix.keepAliveTimeout = 65_000;
  // Root-only: whoever can talk to the socket controls every project.
  const oldMask = process.umask(0o177);
  await listen(unix, cfg.socket).finally(() => process.umask(oldMask));
  await chmod(cfg.socket, 0o600);
  servers.push(unix);
  if (cfg.listenTcp) {
    const [host, port] = splitHostPort(cfg.listenTcp);
    const tcpApp = createApp(services, "tcp");
    const tls = tlsServerOptions(cfg.tlsCert, cfg.tlsKey);
    const tcp = createAdaptorServer({ fetch: handler(tcpApp), ...tls, ...fastPath("tcp", tls.createServer) }) as Server;
    tcpApp.injectWebSocket(tcp);
    await listen(tcp, port, host);
    servers.push(tcp);
  }
  if (cfg.metricsListen) {
    const [host, port] = splitHostPort(cfg.metricsListen, "--metrics-listen", true);
    const server = createMetricsServer(metrics, log);
    await listen(server, port, host);
    servers.push(server);
  }
  if (cfg.ui && !cfg.listenTcp) log.warn("--ui serves the dashboard on the TCP listener: add --listen-tcp HOST:PORT");
  return {
    servers,
    stopLines() {
      process.removeListener("exit", flushLines);
      flushLines();
    },
  };
}

/** A node's --tls-cert/--tls-key as its port proxy's TLS options, or undefined without them. */
function nodeProxyTls(cfg: DaemonConfig): TlsServerOptions | undefined {
  return tlsServerOptions(cfg.tlsCert, cfg.tlsKey).serverOptions as TlsServerOptions | undefined;
}

function listen(server: Server, portOrPath: number | string, host?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    const done = (): void => {
      server.off("error", reject);
      resolve();
    };
    if (typeof portOrPath === "string") server.listen(portOrPath, done);
    else server.listen(portOrPath, host, done);
  });
}

function splitHostPort(value: string, flag = "--listen-tcp", anyPort = false): [string, number] {
  const i = value.lastIndexOf(":");
  const port = Number(value.slice(i + 1));
  if (i < 0 || !Number.isInteger(port) || port < (anyPort ? 0 : 1) || port > 65535)
    throw new Error(`${flag} takes HOST:PORT, got ${value}`);
  return [value.slice(0, i) || "127.0.0.1", port];
}
