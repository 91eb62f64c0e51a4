// What `--role` adds to a daemon. control: the cluster tables (in the --store database), the node
// registry behind /v1/nodes and /cluster/v1, and a sweeper that marks nodes lost when their lease
// runs out (every replica runs one; the UPDATE is idempotent). node: the agent that registers and
// heartbeats. single (the default): nothing. The control plane also gets what routing sandbox calls
// to nodes needs (api/cluster-routing.ts): the placer, the sandbox directory and the cluster secret.
import { statfs } from "node:fs/promises";
import { availableParallelism, hostname, totalmem } from "node:os";
import type { NodeReport } from "@sbx-sh/protocol";
import { openClusterDb } from "./cluster-db.js";
import { GivenUp } from "./given-up.js";
import { NodeAgent } from "./node-agent.js";
import { NodeRegistry } from "./node-registry.js";
import { Placer } from "./placement.js";
import { NodeWatch } from "./node-watch.js";
import { SandboxDirectory } from "./sandbox-directory.js";
import { ControlContent } from "./content-control.js";
import { ContentRecords } from "./content-records.js";
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
  /** Sent to nodes as their bearer token (SBX_CLUSTER_SECRET). */
  secret: string;
  log: Logger;
  /** With --registry: snapshots recorded as nodes commit them, and restored on any node. */
  content?: ControlContent;
}

export interface ClusterRole {
  nodes?: NodeRegistry;
  routing?: ClusterRouting;
  close(): Promise<void>;
}

export async function startClusterRole(
  cfg: DaemonConfig,
  stores: Stores,
  log: Logger,
  node?: ClusterNodeServices,
): Promise<ClusterRole> {
  if (cfg.role === "control") {
    const db = await openClusterDb({ url: cfg.store! });
    const nodes = new NodeRegistry(db.pool, {
      leaseSecs: cfg.nodeLeaseSecs,
      onFreed: (node, sandboxes) => log.info({ node, sandboxes }, "sandboxes ended on their node: room freed"),
    });
    const givenUp = new GivenUp(db.pool);
    const giveUpSecs = cfg.nodeGiveUpSecs ?? 300;
    const sweep = setInterval(
      () =>
        void (async () => {
          const lost = await nodes.expireLeases();
          if (lost.length > 0) log.warn({ nodes: lost }, "node lease expired: lost");
          for (const [node, sandboxes] of await givenUp.giveUpLost(giveUpSecs))
            log.warn({ node, sandboxes, afterSecs: giveUpSecs }, "lost node did not come back: sandboxes given up");
          await givenUp.prune(cfg.retentionSecs);
        })().catch((err: Error) => log.warn({ err: err.message }, "lease sweep failed")),
      Math.max(100, (cfg.nodeLeaseSecs * 1000) / 3),
    );
    sweep.unref();
    const routing: ClusterRouting = {
      placer: new Placer(db.pool),
      directory: new SandboxDirectory(db.pool),
      givenUp,
      watch: new NodeWatch(db.pool),
      secret: cfg.clusterSecret!,
      log,
      ...(cfg.registry ? { content: new ControlContent(await ContentRecords.open(db.pool, "sbx"), log) } : {}),
    };
    return {
      nodes,
      routing,
      async close() {
        clearInterval(sweep);
        routing.watch.stop();
        await db.close();
      },
    };
  }
  if (cfg.role === "node") {
    const agent = new NodeAgent({
      control: cfg.control!,
      token: cfg.nodeToken!,
      report: () => nodeReport(cfg, stores),
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
    return { close: async () => agent.close() };
  }
  return { close: async () => undefined };
}

/** This host's capacity, what its live sandboxes hold, and the layers it caches. */
async function nodeReport(cfg: DaemonConfig, stores: Stores): Promise<NodeReport> {
  const fs = await statfs(cfg.dataDir);
  const all = await stores.meta.listSandboxes({});
  const live = all.filter((s) => s.status === "running");
  const layers = (await stores.images.listLayers())
    .map((l) => l.digest)
    .filter((d): d is string => d !== null && /^sha256:[0-9a-f]{64}$/.test(d));
  return {
    // Where the control plane forwards sandbox calls: --listen-tcp, with a wildcard host made this host's name.
    address: (cfg.listenTcp ?? hostname()).replace(/^(0\.0\.0\.0|\[::\]|):/, `${hostname()}:`),
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
  };
}
