// SandboxClient: the daemon-level calls of the API (sandboxes as records, daemon info, images,
// builds and their contexts, projects and tokens). Working inside one sandbox is the job of the
// Sandbox class; defining and building an image is the job of Image.
import type { Readable } from "node:stream";
import type {
  ClusterNode,
  DrainOutcome,
  DrainSummary,
  ProjectQuota,
  NodeCredential,
  SetNodeStateRequest,
  BuildEvent,
  BuildInfo,
  CreateBuildRequest,
  CreatePoolRequest,
  CreateSandboxRequest,
  PoolInfo,
  DaemonInfo,
  BaseImageState,
  ImageInfo,
  SandboxInfo,
  SandboxStatus,
  SnapshotInfo,
  UpdateNetworkRequest,
  Project,
  Token,
  PortExposure,
  SbxEvent,
  SandboxUsage,
  VolumeInfo,
} from "@sbx-sh/protocol";
import { apiPath, SbxError } from "@sbx-sh/protocol";
import { ndjson } from "./ndjson.js";
import { followEvents, type EventsOptions } from "./events.js";
import {
  exportImage,
  importImage,
  pullImage,
  pushImage,
  type ProgressOptions,
  type PullResult,
  type PushResult,
  type RegistryCredentials,
} from "./oci.js";
import { exportImageToFile, type ExportFileOptions } from "./oci-export-file.js";
import { Terminal } from "./terminal.js";
import type { ClientOptions, ResolvedConfig } from "./config.js";
import { httpStatusOf, Transport } from "./transport.js";

export interface ListSandboxesOptions {
  /** Include terminated sandboxes. */
  all?: boolean;
  /** Only sandboxes with these labels: `key=value`, or `key` for any value. */
  labels?: string[] | Record<string, string>;
  /** Only sandboxes in one of these states (`terminated` lists terminated ones without `all`). */
  status?: SandboxStatus | SandboxStatus[];
  /** Only sandboxes of this image. */
  image?: string;
}

export class SandboxClient {
  readonly transport: Transport;

  constructor(options: ClientOptions | Transport = {}) {
    this.transport = options instanceof Transport ? options : new Transport(options);
  }

  get config(): ResolvedConfig {
    return this.transport.config;
  }

  info(): Promise<DaemonInfo> {
    return this.transport.json<DaemonInfo>("GET", apiPath("info"));
  }

  async list(options: ListSandboxesOptions = {}): Promise<SandboxInfo[]> {
    const res = await this.transport.json<{ sandboxes: SandboxInfo[] }>("GET", apiPath("sandboxes"), {
      query: {
        all: options.all,
        label: Array.isArray(options.labels)
          ? options.labels
          : options.labels && Object.entries(options.labels).map(([k, v]) => `${k}=${v}`),
        status: options.status === undefined ? undefined : [options.status].flat(),
        image: options.image,
      },
    });
    return res.sandboxes;
  }

  /** Sets a running sandbox's timeout to `timeoutSecs` from now (0: none). */
  setTimeout(idOrName: string, timeoutSecs: number): Promise<SandboxInfo> {
    return this.transport.json<SandboxInfo>("PATCH", apiPath("sandbox", { id: idOrName }), { json: { timeoutSecs } });
  }

  /** Forgets the project's terminated sandboxes now (ended at least `olderThanSecs` ago; default all). */
  async prune(options: { olderThanSecs?: number } = {}): Promise<SandboxInfo[]> {
    const res = await this.transport.json<{ sandboxes: SandboxInfo[] }>("POST", apiPath("sandboxesPrune"), {
      json: options,
    });
    return res.sandboxes;
  }

  /** `idOrName` is a sandbox id or name. */
  get(idOrName: string): Promise<SandboxInfo> {
    return this.transport.json<SandboxInfo>("GET", apiPath("sandbox", { id: idOrName }));
  }

  /** A running sandbox claimed from a pool: a warm one when ready (the pool refills). */
  claim(pool: string): Promise<SandboxInfo> {
    return this.transport.json<SandboxInfo>("POST", apiPath("poolSandboxes", { id: pool }));
  }

  createPool(request: CreatePoolRequest): Promise<PoolInfo> {
    return this.transport.json<PoolInfo>("POST", apiPath("pools"), { json: request });
  }

  async listPools(): Promise<PoolInfo[]> {
    return (await this.transport.json<{ pools: PoolInfo[] }>("GET", apiPath("pools"))).pools;
  }

  getPool(id: string): Promise<PoolInfo> {
    return this.transport.json<PoolInfo>("GET", apiPath("pool", { id }));
  }

  deletePool(id: string): Promise<PoolInfo> {
    return this.transport.json<PoolInfo>("DELETE", apiPath("pool", { id }));
  }

  /** Blocks until the sandbox is running. */
  create(request: CreateSandboxRequest = {}): Promise<SandboxInfo> {
    return this.transport.json<SandboxInfo>("POST", apiPath("sandboxes"), { json: request });
  }

  /** Replaces the sandbox's egress lists (an omitted list is unchanged) in one atomic step. */
  updateNetwork(idOrName: string, request: UpdateNetworkRequest): Promise<SandboxInfo> {
    return this.transport.json<SandboxInfo>("PATCH", apiPath("sandboxNetwork", { id: idOrName }), { json: request });
  }

  /** Makes `port` reachable through the daemon's HTTP proxy; the answer has the URL and token. */
  exposePort(idOrName: string, port: number, options: { public?: boolean } = {}): Promise<PortExposure> {
    return this.transport.json<PortExposure>("POST", apiPath("port", { id: idOrName, port }), { json: options });
  }

  async listPorts(idOrName: string): Promise<PortExposure[]> {
    return (await this.transport.json<{ ports: PortExposure[] }>("GET", apiPath("ports", { id: idOrName }))).ports;
  }

  closePort(idOrName: string, port: number): Promise<PortExposure> {
    return this.transport.json<PortExposure>("DELETE", apiPath("port", { id: idOrName, port }));
  }

  terminate(idOrName: string): Promise<SandboxInfo> {
    return this.transport.json<SandboxInfo>("DELETE", apiPath("sandbox", { id: idOrName }));
  }

  async listImages(): Promise<ImageInfo[]> {
    const res = await this.transport.json<{ images: ImageInfo[] }>("GET", apiPath("images"));
    return res.images;
  }

  /** Every base image the daemon knows, and whether it is built, built on first use, or cannot be built there. */
  async listBaseImages(): Promise<BaseImageState[]> {
    const res = await this.transport.json<{ bases?: BaseImageState[] }>("GET", apiPath("images"));
    return res.bases ?? [];
  }

  /** `name` or `name:tag`; base images too. */
  getImage(name: string): Promise<ImageInfo> {
    return this.transport.json<ImageInfo>("GET", apiPath("image", { name }));
  }

  /** Removes a built image (`name` or `name:tag`) from the project; answers what was removed. */
  deleteImage(name: string): Promise<ImageInfo> {
    return this.transport.json<ImageInfo>("DELETE", apiPath("image", { name }));
  }

  /** The image as an OCI image layout tar stream (skopeo's `oci-archive:`). */
  exportImage(name: string, signal?: AbortSignal): Promise<Readable> {
    return exportImage(this.transport, name, signal);
  }

  /**
   * The image as an OCI image layout tar written at `path` (the same bytes as exportImage()), faster
   * for a layer no export has compressed yet; answers the file's size. Nothing is left at `path`
   * (nor beside it) when the export fails.
   */
  exportImageToFile(name: string, path: string, options: ExportFileOptions = {}): Promise<number> {
    return exportImageToFile(this.transport, name, path, options);
  }

  /** Registers an OCI image layout tar or `docker save` tar as `name` (`tag` defaults to latest). */
  importImage(
    tar: Readable | Uint8Array,
    options: { name: string; tag?: string; replace?: boolean; signal?: AbortSignal },
  ): Promise<ImageInfo> {
    return importImage(this.transport, tar, options);
  }

  /** Pushes `name[:tag]` to `registry/repo:tag` over the OCI distribution API. */
  pushImage(
    name: string,
    reference: string,
    credentials?: RegistryCredentials,
    options?: ProgressOptions,
  ): Promise<PushResult> {
    return pushImage(this.transport, name, reference, credentials, options);
  }

  /** Pulls `registry/repo:tag` into the project (as `name`, default the repository's last part). */
  pullImage(
    reference: string,
    options?: RegistryCredentials & { name?: string; tag?: string; replace?: boolean } & ProgressOptions,
  ): Promise<PullResult> {
    return pullImage(this.transport, reference, options);
  }

  /** Whether the daemon already holds the context tar with this digest (`sha256:<hex>`). */
  async hasContext(digest: string): Promise<boolean> {
    try {
      await this.transport.empty("HEAD", apiPath("context", { digest }));
      return true;
    } catch (err) {
      if (err instanceof SbxError && httpStatusOf(err.code) === 404) return false;
      throw err;
    }
  }

  /** Uploads a context tar; the daemon checks that its sha256 is `digest`. */
  uploadContext(
    digest: string,
    tar: Readable | Uint8Array,
    signal?: AbortSignal,
  ): Promise<{ digest: string; sizeBytes: number }> {
    return this.transport.json("PUT", apiPath("context", { digest }), {
      body: tar,
      contentType: "application/x-tar",
      signal,
      stream: true,
    });
  }

  /** Starts a build in the background (its contexts must be uploaded first). */
  createBuild(request: CreateBuildRequest): Promise<BuildInfo> {
    return this.transport.json<BuildInfo>("POST", apiPath("builds"), { json: request });
  }

  /** Builds of the project, newest first. */
  async listBuilds(): Promise<BuildInfo[]> {
    const res = await this.transport.json<{ builds: BuildInfo[] }>("GET", apiPath("builds"));
    return res.builds;
  }

  getBuild(id: string): Promise<BuildInfo> {
    return this.transport.json<BuildInfo>("GET", apiPath("build", { id }));
  }

  /** Cancels a build; its build sandbox is removed. */
  cancelBuild(id: string): Promise<BuildInfo> {
    return this.transport.json<BuildInfo>("DELETE", apiPath("build", { id }));
  }

  /** A build's events from its start; with `follow`, also new ones until the `done` event. */
  async *buildEvents(id: string, options: { follow?: boolean; signal?: AbortSignal } = {}): AsyncGenerator<BuildEvent> {
    const body = await this.transport.stream("GET", apiPath("buildEvents", { id }), {
      query: { follow: options.follow },
      signal: options.signal,
    });
    for await (const value of ndjson(body)) {
      // Unknown event types are skipped so newer daemons stay compatible.
      const type = (value as { type?: unknown }).type;
      if (type === "build" || type === "step" || type === "log" || type === "step_done" || type === "done")
        yield value as BuildEvent;
    }
  }

  /** Resource use of the project's running sandboxes, or of the ones named (each must be running). */
  async stats(ids: string[] = []): Promise<SandboxUsage[]> {
    const res = await this.transport.json<{ stats: SandboxUsage[] }>("GET", apiPath("stats"), {
      query: { ids: ids.length ? ids.join(",") : undefined },
    });
    return res.stats;
  }

  /** The project's events as they happen (sandboxes, processes, builds, snapshots, images); reconnects by itself. */
  events(options: EventsOptions = {}): AsyncGenerator<SbxEvent> {
    return followEvents(this.transport, options);
  }

  async listProjects(): Promise<Project[]> {
    const res = await this.transport.json<{ projects: Project[] }>("GET", apiPath("projects"));
    return res.projects;
  }

  createProject(name: string): Promise<Project> {
    return this.transport.json<Project>("POST", apiPath("projects"), { json: { name } });
  }

  /** The cluster's nodes (a control-plane daemon, over its unix socket). */
  async listNodes(): Promise<ClusterNode[]> {
    return (await this.transport.json<{ nodes: ClusterNode[] }>("GET", apiPath("nodes"))).nodes;
  }

  /** Adds a node to the cluster; its credential (SBX_NODE_TOKEN of the node's sbxd) is in the answer once. */
  addNode(name: string, labels: Record<string, string> = {}): Promise<NodeCredential> {
    return this.transport.json<NodeCredential>("POST", apiPath("nodes"), { json: { name, labels } });
  }

  /** Cordons, drains, readies or revokes a node; answers the node as it is now. */
  setNodeState(name: string, state: SetNodeStateRequest["state"]): Promise<ClusterNode> {
    return this.transport.json<ClusterNode>("POST", apiPath("nodeState", { name }), { json: { state } });
  }

  /**
   * Drains a node (a control plane, over its unix socket): it takes no new sandboxes, and each named
   * sandbox on it moves to another node (same id and name). `onProgress` hears each sandbox's
   * outcome as it happens; the summary says what moved, what failed (it stays, running) and what
   * stays (unnamed sandboxes, until they end). Safe to run again.
   */
  async drainNode(name: string, options: { onProgress?: (o: DrainOutcome) => void } = {}): Promise<DrainSummary> {
    const body = await this.transport.stream("POST", apiPath("nodeDrain", { name }));
    for await (const v of ndjson(body)) {
      const e = v as { event?: string; sandbox?: DrainOutcome; result?: DrainSummary };
      if (e.event === "sandbox" && e.sandbox) options.onProgress?.(e.sandbox);
      else if (e.event === "result" && e.result) return e.result;
    }
    throw new SbxError("internal", "sbxd ended the drain's stream without a result");
  }

  /** A project's quota on a cluster control plane (null: no limit). */
  projectQuota(project: string): Promise<ProjectQuota> {
    return this.transport.json<ProjectQuota>("GET", apiPath("projectQuota", { name: project }));
  }

  /** Sets a project's quota on a cluster control plane (over its unix socket); null lifts a limit. */
  setProjectQuota(project: string, quota: ProjectQuota): Promise<ProjectQuota> {
    return this.transport.json<ProjectQuota>("PUT", apiPath("projectQuota", { name: project }), { json: quota });
  }

  /** Mints a token for TCP access to `project`; the secret is in the answer once. */
  createToken(project: string): Promise<Token> {
    return this.transport.json<Token>("POST", apiPath("projectTokens", { name: project }));
  }

  /** A project's tokens: ids and dates, never the secrets. */
  async listTokens(project: string): Promise<Token[]> {
    const res = await this.transport.json<{ tokens: Token[] }>("GET", apiPath("projectTokens", { name: project }));
    return res.tokens;
  }

  /** Revokes a token (the daemon refuses the one this client is using). */
  revokeToken(project: string, id: string): Promise<Token> {
    return this.transport.json<Token>("DELETE", apiPath("projectToken", { name: project, id }));
  }

  /** Deletes an empty project and its tokens (not default, not this client's own project). */
  deleteProject(name: string): Promise<Project> {
    return this.transport.json<Project>("DELETE", apiPath("project", { name }));
  }

  /** Creates a volume of the project: a persistent directory capped at `sizeMb` (default 1024). */
  createVolume(name: string, options: { sizeMb?: number } = {}): Promise<VolumeInfo> {
    return this.transport.json<VolumeInfo>("POST", apiPath("volumes"), { json: { name, sizeMb: options.sizeMb } });
  }

  /** The project's volumes with their usage and the sandboxes holding them. */
  async listVolumes(): Promise<VolumeInfo[]> {
    return (await this.transport.json<{ volumes: VolumeInfo[] }>("GET", apiPath("volumes"))).volumes;
  }

  getVolume(name: string): Promise<VolumeInfo> {
    return this.transport.json<VolumeInfo>("GET", apiPath("volume", { name }));
  }

  /** Removes a volume and its files; volume_in_use while a sandbox (running or suspended) holds it. */
  deleteVolume(name: string): Promise<VolumeInfo> {
    return this.transport.json<VolumeInfo>("DELETE", apiPath("volume", { name }));
  }

  listSnapshots(): Promise<SnapshotInfo[]> {
    return this.transport.json<{ snapshots: SnapshotInfo[] }>("GET", apiPath("snapshots")).then((r) => r.snapshots);
  }

  getSnapshot(id: string): Promise<SnapshotInfo> {
    return this.transport.json<SnapshotInfo>("GET", apiPath("snapshot", { id }));
  }

  deleteSnapshot(id: string): Promise<SnapshotInfo> {
    return this.transport.json<SnapshotInfo>("DELETE", apiPath("snapshot", { id }));
  }

  /** Registers a snapshot as a named image of the project (`name` or `name:tag`). */
  registerImage(ref: string, snapshotId: string, options: { replace?: boolean } = {}): Promise<ImageInfo> {
    const i = ref.lastIndexOf(":");
    const [name, tag] = i > 0 ? [ref.slice(0, i), ref.slice(i + 1)] : [ref, undefined];
    return this.transport.json<ImageInfo>("POST", apiPath("images"), {
      json: { name, tag, snapshotId, replace: options.replace },
    });
  }

  /** Attaches (again) to a terminal of a sandbox; its recent output is replayed first. */
  attachTerminal(sandboxIdOrName: string, terminalId: string): Promise<Terminal> {
    return Terminal.attach(this.transport, sandboxIdOrName, terminalId);
  }

  /** Releases the connection pool; pending requests finish first. */
  close(): Promise<void> {
    return this.transport.close();
  }
}
