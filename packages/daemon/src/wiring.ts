// The daemon's services made in dependency order, each given its collaborators when it is made.
// One function for the daemon (daemon.ts) and the services' unit tests, so the two cannot wire
// differently. Two registries break the cycles a service would otherwise close after
// construction: the lifecycle's events (what holds something per sandbox subscribes) and the
// layers in use (what builds and transfers hold, which the collector reads).
import { createReadStream } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import type { BaseImageSource } from "./build/base-images.js";
import type { Logger } from "./common/log.js";
import { ContextStore } from "./content/context-store.js";
import { LayerStore } from "./layers/layer-store.js";
import type { SandboxRuntime } from "./runtime/runtime.js";
import { SandboxSecrets } from "./services/sandbox-secrets.js";
import { BuildService } from "./services/build-service.js";
import { FileService } from "./services/file-service.js";
import { ImageGc } from "./services/image-gc.js";
import { BlobCache } from "./oci/blob-cache.js";
import { BLOB_MEMO } from "./oci/blob-memo.js";
import { ImageService } from "./services/images.js";
import { LayersInUse } from "./services/layers-in-use.js";
import { NetSlots } from "./services/net-slots.js";
import { OciService } from "./services/oci-service.js";
import { PoolService } from "./services/pool-service.js";
import type { BuildOwner } from "./services/build-owner.js";
import { TemplateBuilds } from "./services/template-builds.js";
import type { OutboundPolicy } from "./oci/outbound.js";
import type { GzipProgram } from "./oci/program-gzip.js";
import { loadTokenKey, PortTokens } from "./services/port-tokens.js";
import { PortService } from "./services/port-service.js";
import { ProcessService } from "./services/process-service.js";
import { ProjectService } from "./services/project-service.js";
import { EventBus } from "./services/event-bus.js";
import { SandboxEvents } from "./services/sandbox-events.js";
import { SandboxService } from "./services/sandbox-service.js";
import { SnapshotService } from "./services/snapshot-service.js";
import { StatsService } from "./services/stats-service.js";
import { DaemonMetrics } from "./services/metrics.js";
import { TerminalService } from "./services/terminal-service.js";
import { WarmPool } from "./services/warm-pool.js";
import { BuildBaseBlanks } from "./services/build-base-blanks.js";
import { VolumeService } from "./services/volume-service.js";
import type { Stores } from "./store/store.js";

/**
 * Disk kept for compressed layer blobs of past exports (oci/blob-cache.ts), least recently used
 * first out: a few images' worth, so that exporting or pushing one again sends a file.
 */
const OCI_BLOB_CACHE_BYTES = 2 * 2 ** 30;

/**
 * Build steps get more room than a default sandbox: package installs are big and their files sit in memory (tmpfs).
 * Never every core, though: a step that floods or spins must leave the daemon a core to keep answering the API at
 * its idle speed (issue 18, F4); on a 2-core host a build gets one.
 */
export const BUILD_LIMITS = {
  cpus: Math.max(1, Math.min(2, availableParallelism() - 1)),
  memoryMb: 4096,
  pidsLimit: 4096,
  diskMb: 8192,
};

export interface WiringOptions {
  dataDir: string;
  stores: Stores;
  runtime: SandboxRuntime;
  bases: BaseImageSource;
  defaultImage: string;
  uidBase: number;
  warmPool: number;
  /** Domain of exposed ports' proxy, or null without a proxy. */
  proxyDomain: string | null;
  log: Logger;
  /** Where registry pulls and pushes may connect; default public addresses only. */
  outbound?: OutboundPolicy;
  /** Who runs this daemon's builds (control replicas: their lease); default the only daemon. */
  buildOwner?: BuildOwner;
  /** The gzip program of OCI layer exports (runtime/deflate-helper.ts); default zlib in the daemon. */
  layerGzip?: GzipProgram;
  /** Ended processes each sandbox keeps (services/process-retention.ts); default 1000. */
  processHistory?: number;
  /** How long a file read may make no progress (services/file-service.ts); default 30 s. */
  readIdleMs?: number;
}

export type WiredServices = ReturnType<typeof wireServices>;

export function wireServices(o: WiringOptions) {
  const { stores, runtime, log } = o;
  const store = stores.meta;
  const events = new SandboxEvents();
  const bus = new EventBus();
  const inUse = new LayersInUse();
  const slots = new NetSlots(store, runtime.netSlotCapacity);
  const images = new ImageService(o.bases, stores.images, o.defaultImage, bus);
  const contexts = new ContextStore(join(o.dataDir, "contexts"));
  const layerStore = new LayerStore(join(o.dataDir, "layers"));
  const blobCache = new BlobCache(join(o.dataDir, "oci-blobs"), OCI_BLOB_CACHE_BYTES);
  const gc = new ImageGc(stores.images, store, layerStore, inUse, log, () => blobCache.prune(BLOB_MEMO));
  const oci = new OciService(images, stores.images, layerStore, inUse, {
    uidBase: o.uidBase,
    tmpDir: join(o.dataDir, "tmp"),
    outbound: o.outbound,
    blobCache,
    ...(o.layerGzip ? { gzip: o.layerGzip } : {}),
  });
  const builds = new BuildService(
    stores.images,
    images,
    {
      runtime,
      layers: layerStore,
      cache: stores.images,
      openContext: (digest) => createReadStream(contexts.path(digest)),
      hasContext: (project, digest) => contexts.has(project, digest),
      reserveNetSlot: () => slots.reserve(),
      releaseNetSlot: (slot) => slots.release(slot),
      limits: BUILD_LIMITS,
      uidBase: o.uidBase,
      // A build's first step may run in a blank of the default pool or of a recent build base.
      readyBlanks: new BuildBaseBlanks(() => pool, { limits: BUILD_LIMITS }),
    },
    {
      ...{ logDir: join(o.dataDir, "builds"), gc, pullBase: (project, ref) => oci.pullBase(project, ref), inUse, bus },
      ...(o.buildOwner ? { owner: o.buildOwner } : {}),
    },
    log,
  );
  const snapshots = new SnapshotService(store, stores.images, runtime, layerStore, gc, events, log, bus);
  // The daemon fills it only after reconcile, which removes every sandbox the store does not know.
  const pool = new WarmPool(runtime, images, slots, o.warmPool, log, bus);
  const secrets = new SandboxSecrets(join(o.dataDir, "secrets"), events);
  const volumes = new VolumeService(store, runtime.volumes, log);
  const sandboxes = new SandboxService({
    ...{ store, runtime, images, snapshots, pool, slots, events, bus, log, secrets },
    volumes,
  });
  const processes = new ProcessService(store, runtime, sandboxes, events, log, bus, o.processHistory);
  const terminals = new TerminalService(runtime, sandboxes, events, log);
  const ports = new PortService(
    store,
    sandboxes,
    events,
    o.proxyDomain,
    log,
    new PortTokens(loadTokenKey(join(o.dataDir, "port-token.key"))),
  );
  const projects = new ProjectService(store, stores.images);
  const files = new FileService(runtime, sandboxes, o.readIdleMs);
  const pools = new PoolService(o.dataDir, pool, images, sandboxes, log);
  const templateBuilds = new TemplateBuilds(stores.images, o.buildOwner);
  const stats = new StatsService(store, runtime, sandboxes, events);
  const metrics = new DaemonMetrics({ bus, stats, store, pool });
  return {
    events,
    bus,
    stats,
    metrics,
    inUse,
    slots,
    images,
    contexts,
    layerStore,
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
    volumes,
    templateBuilds,
  };
}
