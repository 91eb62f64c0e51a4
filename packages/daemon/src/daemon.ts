// Wires the daemon together: store, base images, runtime, services, API servers; reconciles
// with what survived on the host; shuts down without touching running sandboxes. The logger
// (daemon-logger.ts), what the host provides (daemon-host.ts) and the listeners
// (daemon-listeners.ts) are modules of their own; this one decides the order of it all.
import { chmod, mkdir, rm, writeFile } from "node:fs/promises";
import type { Server } from "node:http";
import { join } from "node:path";
import type { Logger as Pino } from "pino";
import { SandboxRetention } from "./services/sandbox-retention.js";
import { closeNodePools } from "./cluster/node-dispatch.js";
import { UiSessions } from "./services/ui-sessions.js";
import { BaseImages, type BaseImageSource } from "./build/base-images.js";
import type { SandboxRuntime } from "./runtime/runtime.js";
import { cgroupVersion } from "./runtime/host-facts.js";
import { EgressRefresher } from "./services/egress-refresh.js";
import type { Services } from "./services/services.js";
import { daemonStoreConfig, describeStore, openStores } from "./store/open-stores.js";
import { startClusterRole, type ClusterRouting } from "./cluster/cluster-role.js";
import { ReplicaLease } from "./cluster/replica-lease.js";
import { NodeMoves } from "./cluster/move-node.js";
import { startNodeContent } from "./cluster/content-node.js";
import { openClusterRegistry } from "./cluster/registry-access.js";
import { parseOutboundAllow } from "./oci/outbound.js";
import { wireServices } from "./wiring.js";
import type { DaemonConfig } from "./config.js";
import { roleProblem, runsSandboxes, warmPoolOf } from "./config-roles.js";
import { HostlessRuntime } from "./runtime/hostless-runtime.js";
import { findDeflateHelper } from "./runtime/deflate-helper.js";
import { VERSION } from "@sbx-sh/protocol";
import { daemonLogger } from "./daemon-logger.js";
import { hostRuntime, hostTrust } from "./daemon-host.js";
import { startApiServers, startPortProxy, type ApiHandler } from "./daemon-listeners.js";

export interface RunningDaemon {
  services: Services;
  close(): Promise<void>;
}

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
  // The driver's words alone ("connect ECONNREFUSED …") do not say it is the store to check.
  const stores = await openStores(storeConfig).catch((err: unknown) => {
    throw new Error(`cannot open the store ${describeStore(storeConfig)}: ${(err as Error).message}`, { cause: err });
  });
  log.info({ store: describeStore(storeConfig) }, "store open");
  const store = stores.meta;
  // Control replicas share builds in PostgreSQL: each fails only dead replicas' (replica-lease.ts).
  const replica = cfg.role === "control" ? await ReplicaLease.start(cfg.store!, cfg.nodeLeaseSecs, log) : null;
  const cgv = cgroupVersion();
  // A control replica's runtime owns nothing on the host, so no start-up step (sweeps, reconcile,
  // the nft table) touches the sandboxes of a node or daemon beside it that shares its names.
  const hosting = runsSandboxes(cfg.role);
  const runtime: SandboxRuntime =
    seams.runtime ?? (hosting ? await hostRuntime(cfg, sandboxesDir, cgv, trust) : new HostlessRuntime());
  const bases =
    seams.baseImages ??
    new BaseImages({
      dataDir: cfg.dataDir,
      cacheDir: join(cfg.cacheDir, "bases"),
      uidBase: cfg.uidBase,
      mirrors: { debian: cfg.debianMirror, ubuntu: cfg.ubuntuMirror },
      log: (line) => log.info({ component: "base-images" }, line),
    });

  const deflate = await findDeflateHelper(cfg.deflatePath);
  if (deflate.helper) log.info({ gzip: deflate.helper.id }, "layer exports compress with sbx-deflate");
  else log.info({ why: deflate.why }, "layer exports compress with zlib");
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
    ...(deflate.helper ? { layerGzip: deflate.helper } : {}),
    processHistory: cfg.processHistory,
    ...(cfg.readIdleSecs ? { readIdleMs: cfg.readIdleSecs * 1000 } : {}),
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
  const relayTo: { routing?: ClusterRouting } = {};
  const portProxy = await startPortProxy(cfg, ports, log, relayTo);
  if (portProxy) servers.push(portProxy.server);
  const proxy = portProxy?.address ?? null;
  const clusterRegistry = await openClusterRegistry(cfg, log);
  const cluster = await startClusterRole(cfg, stores, log, sandboxes, proxy?.port, clusterRegistry, replica?.id);
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

  const api = await startApiServers(cfg, services, { log, metrics, wrapHandler: seams.wrapHandler });
  servers.push(...api.servers);
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
      api.stopLines();
      await closeNodePools();
      await builds.close();
      sandboxes.close();
      egressRefresh.close();
      await pools.close();
      retention.close();
      await pool.close();
      processes.close();
      // Terminated sandboxes' mounts and veths go now, not at the next start (main.ts's 5 s bound holds).
      await runtime.settle?.();
      await cluster.close();
      await replica?.close();
      await stores.close();
      await rm(pidFile, { force: true });
      await rm(cfg.socket, { force: true });
    },
  };
}
