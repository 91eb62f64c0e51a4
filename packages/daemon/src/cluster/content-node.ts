// Wires a node's cluster content (sbxd --role node --registry host:port, registry-access.ts): snapshots and suspends
// are pushed before they are reported committed (ContentPublisher, hooked into SnapshotService),
// builds the control plane placed here are pushed and recorded before they succeed, and snapshots
// and images taken or built elsewhere are pulled on first use into a bounded LRU cache (ContentFetcher).
import { join } from "node:path";
import type { Logger } from "../common/log.js";
import type { LayerStore } from "../layers/layer-store.js";
import type { ImageGc } from "../services/image-gc.js";
import type { ImageService } from "../services/images.js";
import type { LayersInUse } from "../services/layers-in-use.js";
import type { ImageRecord } from "../domain/records.js";
import type { BuildService } from "../services/build-service.js";
import type { OciService } from "../services/oci-service.js";
import type { SnapshotService } from "../services/snapshot-service.js";
import type { Stores } from "../store/store.js";
import { ContentFetcher } from "./content-fetch.js";
import { ContentPublisher } from "./content-publish.js";
import type { ClusterRegistry } from "./registry-access.js";
import { imageReport, reportImage } from "./image-report.js";

export interface NodeContent {
  publisher: ContentPublisher;
  fetcher: ContentFetcher;
}

export interface NodeContentOptions {
  registry: ClusterRegistry;
  /** Bytes of pulled content kept before the least recently used goes. */
  cacheBytes: number;
  dataDir: string;
  uidBase: number;
  stores: Stores;
  layers: LayerStore;
  images: ImageService;
  snapshots: SnapshotService;
  builds: BuildService;
  oci: OciService;
  /** The control plane and this node's token, to report the images it commits. */
  control: string;
  nodeToken: string;
  gc: ImageGc;
  inUse: LayersInUse;
  log: Logger;
}

export function startNodeContent(o: NodeContentOptions): NodeContent {
  const tmpDir = join(o.dataDir, "tmp");
  const publisher = new ContentPublisher({
    registry: o.registry,
    images: o.images,
    uidBase: o.uidBase,
    tmpDir,
    log: o.log,
  });
  o.snapshots.publish = (s) => publisher.publish(s);
  // A build the control plane placed here: pushed, then recorded by the control plane, then registered.
  const commitImage = async (img: ImageRecord, jobId: string): Promise<void> => {
    const manifest = await publisher.publishImage(img);
    await reportImage(o.control, o.nodeToken, imageReport(jobId, manifest, img));
  };
  o.builds.publish = (img, build) => commitImage(img, build.id);
  // Imports and pulls the control plane placed here: the same commit, under the id it drew.
  o.oci.commit = commitImage;
  const fetcher = new ContentFetcher({
    registry: o.registry,
    layers: o.layers,
    images: o.stores.images,
    meta: o.stores.meta,
    bases: o.images,
    gc: o.gc,
    inUse: o.inUse,
    uidBase: o.uidBase,
    tmpDir,
    cacheFile: join(o.dataDir, "content-cache.json"),
    budgetBytes: o.cacheBytes,
    log: o.log,
  });
  return { publisher, fetcher };
}
