// What `--role` adds to a daemon. control: the cluster tables (in the --store database), the node
// registry behind /v1/nodes and /cluster/v1, and a sweeper that marks nodes lost when their lease
// runs out, gives up lost nodes' sandboxes and removes creates whose control replica died
// (orphan-creates.ts; every replica runs one, each step takes a row once). node: the agent that registers and
// heartbeats. single (the default): nothing. The control plane also gets what routing sandbox calls
// to nodes needs (api/cluster-routing.ts): the placer, the sandbox directory and the cluster secret,
// from which it derives each node's key (node-key.ts). A node gets its key from the control plane
// and keeps it for its TCP API (api/node-auth.ts).
import { readFile, statfs } from "node:fs/promises";
import { availableParallelism, hostname, totalmem } from "node:os";
import type { NodeReport } from "@sbx-sh/protocol";
import { openClusterDb } from "./cluster-db.js";
import { GivenUp } from "./given-up.js";
import { NodeAgent } from "./node-agent.js";
import { deriveNodeKey, NodeKeys } from "./node-key.js";
import { NodeRegistry } from "./node-registry.js";
import { Placer } from "./placement.js";
import { sweepOrphanCreates } from "./orphan-creates.js";
import { NodeWatch } from "./node-watch.js";
import { SandboxDirectory } from "./sandbox-directory.js";
import { RouteCache } from "./route-cache.js";
import { ControlContent } from "./content-control.js";
import { ContentRecords } from "./content-records.js";
import { BuildDirectory } from "./build-directory.js";
import { ControlImages } from "./control-images.js";
import { SandboxMover } from "./sandbox-mover.js";
import { SnapshotCatalog } from "./snapshot-catalog.js";
import type { ClusterRegistry } from "./registry-access.js";
import type { Logger } from "../common/log.js";
import type { DaemonConfig } from "../config.js";
import type { Stores } from "../store/store.js";

/** What a node needs of its services to reconcile: terminating a sandbox the control plane gave up. */
export interface ClusterNodeServices {
  terminate(project: string, sandboxId: string, reason: string): Promise<unknown>;
}

/** What the control plane routes sandbox calls with. */
export interface ClusterRouting {
  placer: Placer;
  directory: SandboxDirectory;
  /** Sandboxes given up (their node lost): terminate while lost, and the reason afterwards. */
  givenUp: GivenUp;
  /** Ends calls in flight to a node that stops renewing its lease. */
  watch: NodeWatch;
  /** SBX_CLUSTER_SECRET: each node's bearer key is derived from it (node-key.ts); never sent as is. */
  secret: string;
  /** --node-ca: nodes are called over TLS and must present a certificate that verifies against it. */
  nodeCa?: Buffer;
  log: Logger;
  /** With --registry: snapshots recorded as nodes commit them, and restored on any node. */
  content?: ControlContent;
  /** With --registry: builds placed on nodes, their images recorded here and pulled by any node. */
  images?: ControlImages;
  /** With --registry: named sandboxes moved between nodes (drain, resume elsewhere; sandbox-mover.ts). */
  mover?: SandboxMover;
  /** With --registry: snapshot list, get and delete from PostgreSQL's content records. */
  snapshots?: SnapshotCatalog;
  /** This replica's memory of tokens, projects and locations, kept right by PostgreSQL's notifications. */
  cache?: RouteCache;
}

export interface ClusterRole {
  nodes?: NodeRegistry;
  routing?: ClusterRouting;
  /** A node's key from its control plane, which its TCP API accepts (role node). */
  nodeKeys?: NodeKeys;
  close(): Promise<void>;
}

export async function startClusterRole(
  cfg: DaemonConfig,
  stores: Stores,
  log: Logger,
  node?: ClusterNodeServices,
  /** The port the daemon's port proxy listens on, if it runs one (a node reports it). */
  proxyPort?: number,
  /** The cluster registry with its TLS and credentials (--registry, registry-access.ts). */
  registry?: ClusterRegistry,
  /** This control replica's lease id (replica-lease.ts): recorded on what it places (orphan-creates.ts). */
  replicaId?: string,
): Promise<ClusterRole> {
  if (cfg.role === "control") {
    const nodeCa = cfg.nodeCa
      ? await readFile(cfg.nodeCa).catch((err: Error) => {
          throw new Error(`--node-ca ${cfg.nodeCa}: ${err.message}`, { cause: err });
        })
      : undefined;
    const db = await openClusterDb({ url: cfg.store! });
    const nodes = new NodeRegistry(db.pool, {
      leaseSecs: cfg.nodeLeaseSecs,
      onFreed: (node, sandboxes) => log.info({ node, sandboxes }, "sandboxes ended on their node: room freed"),
      onStrays: (node, sandboxes) =>
        log.warn({ node, sandboxes }, "the node runs sandboxes the control plane does not know: destroying them"),
      keyFor: (name, salt) => deriveNodeKey(cfg.clusterSecret!, name, salt),
    });
    const givenUp = new GivenUp(db.pool);
    // Each forwarded call would otherwise ask PostgreSQL for its token, project and sandbox (route-cache.ts).
    const cache = await RouteCache.start(db.pool, cfg.store!, "sbx", { log }).catch(async (err: unknown) => {
      await db.close();
      throw err;
    });
    const giveUpSecs = cfg.nodeGiveUpSecs ?? 300;
    const sweep = setInterval(
      () =>
        void (async () => {
          const lost = await nodes.expireLeases();
          if (lost.length > 0) log.warn({ nodes: lost }, "node lease expired: lost");
          for (const [node, sandboxes] of await givenUp.giveUpLost(giveUpSecs))
            log.warn({ node, sandboxes, afterSecs: giveUpSecs }, "lost node did not come back: sandboxes given up");
          for (const o of await sweepOrphanCreates(db.pool))
            log.warn(o, "a create's control replica died before it finished: its placement is removed");
          await givenUp.prune(cfg.retentionSecs);
        })().catch((err: Error) => log.warn({ err: err.message }, "lease sweep failed")),
      Math.max(100, (cfg.nodeLeaseSecs * 1000) / 3),
    );
    sweep.unref();
    const routing: ClusterRouting = {
      placer: new Placer(db.pool, replicaId ? { owner: replicaId } : {}),
      directory: new SandboxDirectory(db.pool, cache),
      givenUp,
      watch: new NodeWatch(db.pool),
      secret: cfg.clusterSecret!,
      ...(nodeCa ? { nodeCa } : {}),
      log,
      cache,
    };
    if (registry) {
      const records = await ContentRecords.open(db.pool, "sbx");
      routing.content = new ControlContent(records, log);
      routing.images = new ControlImages(stores.images, records, await BuildDirectory.open(db.pool, "sbx"));
      routing.mover = new SandboxMover(db.pool, {
        secret: cfg.clusterSecret!,
        ...(nodeCa ? { nodeCa } : {}),
        log,
        nodes,
      });
      routing.snapshots = await SnapshotCatalog.open(db.pool, "sbx", registry);
    }
    return {
      nodes,
      routing,
      async close() {
        clearInterval(sweep);
        routing.watch.stop();
        routing.placer.stop();
        await cache.close();
        await db.close();
      },
    };
  }
  if (cfg.role === "node") {
    if (cfg.clusterSecret)
      log.warn(
        {},
        "SBX_CLUSTER_SECRET is not used on a node (the control plane hands each node its own key): remove it from the node",
      );
    const nodeKeys = new NodeKeys();
    const agent = new NodeAgent({
      keys: nodeKeys,
      control: cfg.control!,
      token: cfg.nodeToken!,
      report: () => nodeReport(cfg, stores, proxyPort),
      destroy: async (ids) => {
        for (const id of ids) {
          const rec = await stores.meta.getSandbox(id);
          if (!rec || rec.status === "terminated" || !node) continue;
          await node
            .terminate(rec.project, id, "given_up")
            .catch((err: Error) => log.warn({ sandbox: id, err: err.message }, "destroying a given-up sandbox failed"));
        }
      },
      log,
    });
    agent.start();
    return { nodeKeys, close: async () => agent.close() };
  }
  return { close: async () => undefined };
}

/** This host's capacity, what its live sandboxes hold, and the layers it caches. */
async function nodeReport(cfg: DaemonConfig, stores: Stores, proxyPort?: number): Promise<NodeReport> {
  const fs = await statfs(cfg.dataDir);
  const all = await stores.meta.listSandboxes({});
  const live = all.filter((s) => s.status === "running");
  const layers = (await stores.images.listLayers())
    .map((l) => l.digest)
    .filter((d): d is string => d !== null && /^sha256:[0-9a-f]{64}$/.test(d));
  // Where the control plane reaches us: a wildcard host is made this host's name.
  const reachable = (hostPort: string): string => hostPort.replace(/^(0\.0\.0\.0|\[::\]|):/, `${hostname()}:`);
  const proxyHost = cfg.proxyListen?.replace(/:\d+$/, "");
  return {
    address: reachable(cfg.listenTcp ?? hostname()),
    ...(proxyPort !== undefined && proxyHost !== undefined
      ? { proxyAddress: reachable(`${proxyHost}:${proxyPort}`) }
      : {}),
    capacity: {
      cpus: availableParallelism(),
      memoryMb: Math.floor(totalmem() / 2 ** 20),
      diskMb: Math.floor((fs.blocks * fs.bsize) / 2 ** 20),
    },
    usage: {
      cpus: live.reduce((n, s) => n + s.cpus, 0),
      memoryMb: live.reduce((n, s) => n + s.memoryMb, 0),
      diskMb: Math.floor(((fs.blocks - fs.bavail) * fs.bsize) / 2 ** 20),
      sandboxes: live.length,
    },
    layers: [...new Set(layers)],
    sandboxIds: all.filter((s) => s.status !== "terminated").map((s) => s.id),
    suspended: all.filter((s) => s.status === "suspended").map((s) => s.id),
  };
}
