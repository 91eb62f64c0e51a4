// The set of services the API is built on, wired once by the daemon (or by a test).
import type { ProjectService } from "./project-service.js";
import type { Logger } from "../common/log.js";
import type { SandboxService } from "./sandbox-service.js";
import type { ProcessService } from "./process-service.js";
import type { TerminalService } from "./terminal-service.js";
import type { FileService } from "./file-service.js";
import type { ImageService } from "./images.js";
import type { BuildService } from "./build-service.js";
import type { ImageGc } from "./image-gc.js";
import type { SnapshotService } from "./snapshot-service.js";
import type { PortService, ProxyAddress } from "./port-service.js";
import type { ContextStore } from "../content/context-store.js";
import type { OciService } from "./oci-service.js";
import type { NodeRegistry } from "../cluster/node-registry.js";
import type { ClusterRouting } from "../cluster/cluster-role.js";
import type { NodeContent } from "../cluster/content-node.js";
import type { NodeMoves } from "../cluster/move-node.js";
import type { NodeKeys } from "../cluster/node-key.js";
import type { PoolService } from "./pool-service.js";
import type { TemplateBuilds } from "./template-builds.js";
import type { SandboxRetention } from "./sandbox-retention.js";
import type { EventBus } from "./event-bus.js";
import type { StatsService } from "./stats-service.js";
import type { DaemonMetrics } from "./metrics.js";
import type { UiSessions } from "./ui-sessions.js";
import type { VolumeService } from "./volume-service.js";

export interface Services {
  version: string;
  log: Logger;
  projects: ProjectService;
  sandboxes: SandboxService;
  processes: ProcessService;
  terminals: TerminalService;
  files: FileService;
  images: ImageService;
  builds: BuildService;
  gc: ImageGc;
  snapshots: SnapshotService;
  ports: PortService;
  /** Where the port proxy listens (exposed ports' URLs are built from it), or null when there is none. */
  proxy: ProxyAddress | null;
  /** The `sandbox_url` the Tensorlake-compatible routes advertise; null or absent: the request's own host. */
  tensorlakeSandboxUrl?: string | null;
  contexts: ContextStore;
  pools: PoolService;
  /** Tensorlake template builds (Image.build() through the compat routes), kept in the store. */
  templateBuilds: TemplateBuilds;
  oci: OciService;
  /** Forgets terminated sandboxes past their retention (`sbx prune`); absent in tests that need none. */
  retention?: SandboxRetention;
  /** The daemon's event stream (GET /v1/events, metrics). */
  bus: EventBus;
  /** Running sandboxes' resource use (GET …/stats, metrics). */
  stats: StatsService;
  /** Prometheus metrics (GET /metrics on the unix socket and --metrics-listen); absent in some unit tests. */
  metrics?: DaemonMetrics;
  /** Dashboard sign-in sessions; present only when the dashboard is on (`--ui`). */
  uiSessions?: UiSessions;
  /** Named persistent volumes (absent in some unit tests). */
  volumes?: VolumeService;
  info(): { runtime: string; cgroupVersion: 1 | 2; dataDir: string };
  /** The cluster's nodes, on a control-plane daemon (--role control) only. */
  nodes?: NodeRegistry;
  /** Control plane: routes sandbox calls to the nodes that run them (api/cluster-routing.ts). */
  cluster?: ClusterRouting;
  /** Node (--role node): the TCP API accepts only the control plane, which sends this node's key. */
  nodeKeys?: NodeKeys;
  /** Node with --registry: pushes what it commits, pulls what it lacks (cluster/content-node.ts). */
  nodeContent?: NodeContent;
  /** Node with --registry: named sandboxes moved off or onto this node (cluster/move-node.ts). */
  nodeMoves?: NodeMoves;
}
