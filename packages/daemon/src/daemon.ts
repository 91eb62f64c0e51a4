// Wires the daemon together: store, base images, runtime, services, API servers; reconciles
// with what survived on the host; shuts down without touching running sandboxes.
import { chmod, mkdir, rm, writeFile } from "node:fs/promises";
import type { Server } from "node:http";
import type { ServerOptions as TlsServerOptions } from "node:https";
import { join, resolve } from "node:path";
import { createAdaptorServer } from "@hono/node-server";
import { tlsServerOptions } from "./api/tls-listener.js";
import { SandboxRetention } from "./services/sandbox-retention.js";
import { pino, type Logger as Pino } from "pino";
import { createApp, type Transport } from "./api/app.js";
import { fastPathServer } from "./api/cluster-fast-path.js";
import { DeferredRequestLog } from "./api/deferred-request-log.js";
import { closeNodePools } from "./cluster/node-dispatch.js";
import { createPortProxy } from "./api/port-proxy.js";
import { createMetricsServer } from "./api/metrics-server.js";
import { UiSessions } from "./services/ui-sessions.js";
import { BaseImages, type BaseImageSource } from "./build/base-images.js";
import { createRuntime } from "./runtime/create-runtime.js";
import { HostTrust, loadExtraCas } from "./runtime/host-ca.js";
import type { SandboxRuntime } from "./runtime/runtime.js";
import { cgroupVersion, hostNofileHardLimit } from "./runtime/host-facts.js";
import { NetworkManager } from "./runtime/network.js";
import { liftKernelPools } from "./runtime/kernel-pools.js";
import type { ProxyAddress } from "./services/port-service.js";
import { EgressRefresher } from "./services/egress-refresh.js";
import type { Services } from "./services/services.js";
import { daemonStoreConfig, describeStore, openStores } from "./store/open-stores.js";
import { startClusterRole, type ClusterRouting } from "./cluster/cluster-role.js";
import { ReplicaLease } from "./cluster/replica-lease.js";
import { NodeMoves } from "./cluster/move-node.js";
import { startNodeContent } from "./cluster/content-node.js";
import { openClusterRegistry } from "./cluster/registry-access.js";
import { createClusterPortRelay } from "./api/cluster-port-relay.js";
import { parseOutboundAllow } from "./oci/outbound.js";
import { wireServices } from "./wiring.js";
import type { DaemonConfig } from "./config.js";
import { roleProblem, runsSandboxes, warmPoolOf } from "./config-roles.js";
import { HostlessRuntime } from "./runtime/hostless-runtime.js";
import { VERSION } from "@sbx-sh/protocol";

export interface RunningDaemon {
  services: Services;
  close(): Promise<void>;
}

/** The API's request handler, as the HTTP servers call it. */
export type ApiHandler = (request: Request, env: unknown) => Response | Promise<Response>;

/**
 * What the composition root can be given instead of making it from the host (tests run the whole
 * daemon on FakeRuntime this way, without root). Production passes none of them.
 */
export interface DaemonSeams {
  log?: Pino;
  /** Isolates sandboxes; by default the backend `cfg.runtime` names, on this host's network. */
  runtime?: SandboxRuntime;
  /** Where base images come from; by default built with mmdebstrap into the data dir. */
  baseImages?: BaseImageSource;
  /** Wraps the API's handler on every listener (tests record what clients send). */
  wrapHandler?: (handler: ApiHandler) => ApiHandler;
}

/** A node's --tls-cert/--tls-key as its port proxy's TLS options, or undefined without them. */
function nodeProxyTls(cfg: DaemonConfig): TlsServerOptions | undefined {
  return tlsServerOptions(cfg.tlsCert, cfg.tlsKey).serverOptions as TlsServerOptions | undefined;
}

/**
 * pino to stdout, and also appended to --log-file when given (the journal and the file under systemd).
 * A control plane writes its lines in place (one write(2) each): it logs one per forwarded call, and
 * an asynchronous write is a hop to the thread pool and back, whose wake-up of the event loop fell
 * inside every forwarded exec (between the node's answer head and its first line).
 */
function daemonLogger(cfg: DaemonConfig): Pino {
  const sync = cfg.role === "control";
  if (!cfg.logFile)
    return sync ? pino({ level: cfg.logLevel }, pino.destination({ dest: 1, sync })) : pino({ level: cfg.logLevel });
  const file = pino.destination({ dest: cfg.logFile, append: true, mkdir: true, sync });
  return pino(
    { level: cfg.logLevel },
    pino.multistream([
      { level: cfg.logLevel as pino.Level, stream: process.stdout },
      { level: cfg.logLevel as pino.Level, stream: file },
    ]),
  );
}

export async function startDaemon(cfg: DaemonConfig, seams: DaemonSeams = {}): Promise<RunningDaemon> {
  const log = seams.log ?? daemonLogger(cfg);
  // 0700: no host user reaches sandboxes, layers, the store or the cache (an older layout's 0711
  // dirs are tightened here); crun resolves rootfs paths before it switches to the mapped uid.
  const sandboxesDir = join(cfg.dataDir, "sandboxes");
  for (const dir of [cfg.dataDir, cfg.runDir, sandboxesDir, cfg.cacheDir]) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700);
  }

  const problem = roleProblem(cfg);
  if (problem) throw new Error(problem);
  const trust = await hostTrust(cfg.caCerts ?? []);
  const storeConfig = daemonStoreConfig(cfg.store, cfg.dataDir);
  const stores = await openStores(storeConfig);
  log.info({ store: describeStore(storeConfig) }, "store open");
  const store = stores.meta;
  // Control replicas share builds in PostgreSQL: each fails only dead replicas' (replica-lease.ts).
  const replica = cfg.role === "control" ? await ReplicaLease.start(cfg.store!, cfg.nodeLeaseSecs, log) : null;
  const cgv = cgroupVersion();
  // A control replica's runtime owns nothing on the host, so no start-up step (sweeps, reconcile,
  // the nft table) touches the sandboxes of a node or daemon beside it that shares its names.
  const hosting = runsSandboxes(cfg.role);
  const runtime = seams.runtime ?? (hosting ? await hostRuntime(cfg, sandboxesDir, cgv, trust) : new HostlessRuntime());
  const bases =
    seams.baseImages ??
    new BaseImages({
      dataDir: cfg.dataDir,
      cacheDir: join(cfg.cacheDir, "bases"),
      uidBase: cfg.uidBase,
      mirrors: { debian: cfg.debianMirror, ubuntu: cfg.ubuntuMirror },
      log: (line) => log.info({ component: "base-images" }, line),
    });

  const {
    images,
    contexts,
    gc,
    oci,
    builds,
    snapshots,
    pool,
    sandboxes,
    processes,
    terminals,
    ports,
    projects,
    files,
    pools,
    bus,
    stats,
    metrics,
    volumes,
    templateBuilds,
    layerStore,
    inUse,
  } = wireServices({
    dataDir: cfg.dataDir,
    stores,
    runtime,
    bases,
    defaultImage: cfg.defaultImage,
    uidBase: cfg.uidBase,
    warmPool: warmPoolOf(cfg),
    proxyDomain: cfg.proxyListen ? cfg.proxyDomain : null,
    log,
    outbound: parseOutboundAllow(cfg.outboundAllow),
    ...(replica ? { buildOwner: replica } : {}),
  });

  const reconciled = await sandboxes.reconcile();
  await volumes.reconcile();
  const staleBuilds = await builds.reconcile();
  await templateBuilds.reconcile();
  await snapshots.reconcile();
  const prunedPorts = await ports.prune();
  await gc.reconcile();
  await oci.sweep();
  const adopted = await processes.adoptRunning();
  log.info(
    {
      kept: reconciled.kept.length,
      ended: reconciled.ended.length,
      leaks: reconciled.leaks,
      adopted,
      staleBuilds,
      prunedPorts,
    },
    "reconciled with the host",
  );
  replica?.every(() => Promise.all([builds.failOrphaned(), templateBuilds.reconcile()]));
  pool.refill();
  await pools.load();
  const egressRefresh = new EgressRefresher(store, sandboxes, log);
  egressRefresh.start(cfg.egressRefreshSecs * 1000);
  const retention = new SandboxRetention(stores.meta, cfg.retentionSecs, log);
  retention.start();

  const servers: Server[] = [];
  // The port proxy first: the API describes exposed ports with the address it listens on.
  let proxy: ProxyAddress | null = null;
  const relayTo: { routing?: ClusterRouting } = {};
  if (cfg.proxyListen) {
    const [host, port] = splitHostPort(cfg.proxyListen, "--proxy-listen", true);
    // A control plane runs no sandboxes: it relays each port's requests to the node that runs it.
    const server =
      cfg.role === "control"
        ? createClusterPortRelay(relayTo, cfg.proxyDomain, log)
        : // A node with a certificate serves its port proxy over TLS too: the relay verifies it (--node-ca).
          createPortProxy(ports, log, undefined, cfg.role === "node" ? nodeProxyTls(cfg) : undefined);
    await listen(server, port, host);
    proxy = { domain: cfg.proxyDomain, port: (server.address() as { port: number }).port };
    servers.push(server);
  }
  const clusterRegistry = await openClusterRegistry(cfg, log);
  const cluster = await startClusterRole(cfg, stores, log, sandboxes, proxy?.port, clusterRegistry);
  relayTo.routing = cluster.routing;
  // A control replica remembers tokens and projects too, kept right by PostgreSQL (cluster/route-cache.ts).
  projects.memo = cluster.routing?.cache;
  if (cluster.routing?.images) cluster.routing.images.isBase = (name) => images.resolvesToBase(name);
  const nodeContent =
    cfg.role === "node" && clusterRegistry
      ? startNodeContent({
          ...{ registry: clusterRegistry, cacheBytes: (cfg.contentCacheMb ?? 10240) * 2 ** 20, dataDir: cfg.dataDir },
          ...{ uidBase: cfg.uidBase, stores, layers: layerStore, images, snapshots, gc, inUse, log },
          ...{ builds, oci, control: cfg.control!, nodeToken: cfg.nodeToken! },
        })
      : undefined;
  const services: Services = {
    version: VERSION,
    log,
    projects,
    sandboxes,
    processes,
    terminals,
    files,
    images,
    builds,
    gc,
    snapshots,
    ports,
    proxy,
    contexts,
    oci,
    tensorlakeSandboxUrl: cfg.tensorlakeSandboxUrl,
    pools,
    templateBuilds,
    retention,
    bus,
    stats,
    metrics,
    volumes,
    ...(cfg.ui ? { uiSessions: new UiSessions() } : {}),
    info: () => ({ runtime: runtime.name, cgroupVersion: cgv, dataDir: cfg.dataDir }),
    ...(cluster.nodes ? { nodes: cluster.nodes } : {}),
    ...(cluster.routing ? { cluster: cluster.routing } : {}),
    ...(cluster.nodeKeys ? { nodeKeys: cluster.nodeKeys } : {}),
    ...(nodeContent ? { nodeContent } : {}),
    ...(nodeContent ? { nodeMoves: new NodeMoves({ stores, sandboxes, snapshots, content: nodeContent, log }) } : {}),
  };

  await rm(cfg.socket, { force: true });
  await mkdir(join(cfg.socket, ".."), { recursive: true, mode: 0o700 });
  const handler = (app: ReturnType<typeof createApp>): ApiHandler =>
    seams.wrapHandler ? seams.wrapHandler(app.fetch) : app.fetch;
  const unixApp = createApp(services, "unix");
  // A control replica serves the forwarded calls that need nothing of the app in front of it
  // (api/cluster-fast-path.ts); not when a test wraps the app's handler to see every request.
  const routing = seams.wrapHandler ? undefined : services.cluster;
  const fastLines = routing ? new DeferredRequestLog(log, metrics) : undefined;
  // A control replica that exits on a crash still writes the lines of its last calls (its log is sync).
  const flushLines = (): void => fastLines?.flush();
  if (fastLines) process.on("exit", flushLines);
  const fastPath = (transport: Transport, create?: unknown): Record<string, unknown> =>
    routing && fastLines
      ? {
          createServer: fastPathServer(
            { cluster: routing, projects, log, lines: fastLines },
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
  const pidFile = join(cfg.runDir, "sbxd.pid");
  await writeFile(pidFile, `${process.pid}\n`);
  log.info(
    {
      socket: cfg.socket,
      tcp: cfg.listenTcp,
      proxy: proxy ? `${cfg.proxyListen?.replace(/:\d+$/, "")}:${proxy.port}` : null,
      version: VERSION,
    },
    "sbxd ready",
  );

  return {
    services,
    async close() {
      // First: their attached WebSockets keep the servers from closing until the terminals end.
      await terminals.close();
      await Promise.all(
        servers.map(
          (s) =>
            new Promise<void>((r) => {
              s.close(() => r());
              s.closeAllConnections?.();
            }),
        ),
      );
      process.removeListener("exit", flushLines);
      flushLines();
      await closeNodePools();
      await builds.close();
      sandboxes.close();
      egressRefresh.close();
      await pools.close();
      retention.close();
      await pool.close();
      processes.close();
      await cluster.close();
      await replica?.close();
      await stores.close();
      await rm(pidFile, { force: true });
      await rm(cfg.socket, { force: true });
    },
  };
}

/** The runtime `--runtime` names (only crun today), on this host's network and facts. */
async function hostRuntime(
  cfg: DaemonConfig,
  sandboxesDir: string,
  cgv: 1 | 2,
  hostTrust: HostTrust | undefined,
): Promise<SandboxRuntime> {
  const network = new NetworkManager({
    subnet: cfg.subnet,
    interfacePrefix: cfg.interfacePrefix,
    tableName: cfg.nftTable,
  });
  await network.ensureHost();
  await liftKernelPools();
  return createRuntime(cfg.runtime, {
    sandboxesDir,
    crunRoot: join(cfg.runDir, "crun"),
    uidBase: cfg.uidBase,
    uidCount: cfg.uidCount,
    initPath: cfg.initPath,
    busyboxPath: cfg.busyboxPath,
    agentPath: cfg.agentPath ?? undefined,
    hostTrust,
    idmapHelper: cfg.idmapHelper,
    volumesDir: join(cfg.dataDir, "volumes"),
    // Beside the run dir, not in it: every sandbox's root must reach the staged binaries (0755).
    toolsDir: `${resolve(cfg.runDir)}-tools`,
    network,
    nofile: Math.min(hostNofileHardLimit(), 65536),
    cgroupVersion: cgv,
    cgroupParent: cfg.cgroupParent,
  });
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

/** The --ca-cert files, checked before anything starts: a bad file stops the daemon with its name. */
async function hostTrust(files: string[]): Promise<HostTrust | undefined> {
  const pem = await loadExtraCas(files);
  return pem === null ? undefined : new HostTrust(pem);
}
