// SandboxClient: the daemon-level calls of the API (sandboxes as records, daemon info, images,
// builds and their contexts, projects and tokens). Working inside one sandbox is the job of the
// Sandbox class; defining and building an image is the job of Image.
import type { Readable } from "node:stream";
import type { BuildEventT, BuildT, CreateBuildRequestT, CreateSandboxRequest, DaemonInfoT, ImageDetailT, ImageT, SandboxT, SnapshotT, UpdateNetworkRequest } from "../api/schemas.js";
import type { PortExposureT } from "../api/port-schemas.js";
import { SbxError } from "../common/errors.js";
import { ndjson } from "./ndjson.js";
import { exportImage, importImage, pullImage, pushImage, type PullResult, type PushResult, type RegistryCredentials } from "./oci.js";
import { Terminal } from "./terminal.js";
import { Transport, type ClientOptions, type ResolvedConfig } from "./transport.js";

export interface ProjectT {
  name: string;
  createdAt: string;
}

export interface TokenT {
  id: string;
  project: string;
  /** The secret; only present in the answer that created it. */
  token?: string;
  createdAt: string;
}

export interface ListSandboxesOptions {
  /** Include terminated sandboxes. */
  all?: boolean;
}

const enc = encodeURIComponent;

export class SandboxClient {
  readonly transport: Transport;

  constructor(options: ClientOptions | Transport = {}) {
    this.transport = options instanceof Transport ? options : new Transport(options);
  }

  get config(): ResolvedConfig {
    return this.transport.config;
  }

  info(): Promise<DaemonInfoT> {
    return this.transport.json<DaemonInfoT>("GET", "/v1/info");
  }

  async list(options: ListSandboxesOptions = {}): Promise<SandboxT[]> {
    const res = await this.transport.json<{ sandboxes: SandboxT[] }>("GET", "/v1/sandboxes", { query: { all: options.all } });
    return res.sandboxes;
  }

  /** `idOrName` is a sandbox id or name. */
  get(idOrName: string): Promise<SandboxT> {
    return this.transport.json<SandboxT>("GET", `/v1/sandboxes/${enc(idOrName)}`);
  }

  /** Blocks until the sandbox is running. */
  create(request: CreateSandboxRequest = {}): Promise<SandboxT> {
    return this.transport.json<SandboxT>("POST", "/v1/sandboxes", { json: request });
  }

  /** Replaces the sandbox's egress lists (an omitted list is unchanged) in one atomic step. */
  updateNetwork(idOrName: string, request: UpdateNetworkRequest): Promise<SandboxT> {
    return this.transport.json<SandboxT>("PATCH", `/v1/sandboxes/${enc(idOrName)}/network`, { json: request });
  }

  /** Makes `port` reachable through the daemon's HTTP proxy; the answer has the URL and token. */
  exposePort(idOrName: string, port: number, options: { public?: boolean } = {}): Promise<PortExposureT> {
    return this.transport.json<PortExposureT>("POST", `/v1/sandboxes/${enc(idOrName)}/ports/${port}`, { json: options });
  }

  async listPorts(idOrName: string): Promise<PortExposureT[]> {
    return (await this.transport.json<{ ports: PortExposureT[] }>("GET", `/v1/sandboxes/${enc(idOrName)}/ports`)).ports;
  }

  closePort(idOrName: string, port: number): Promise<PortExposureT> {
    return this.transport.json<PortExposureT>("DELETE", `/v1/sandboxes/${enc(idOrName)}/ports/${port}`);
  }

  terminate(idOrName: string): Promise<SandboxT> {
    return this.transport.json<SandboxT>("DELETE", `/v1/sandboxes/${enc(idOrName)}`);
  }

  async listImages(): Promise<ImageT[]> {
    const res = await this.transport.json<{ images: ImageT[] }>("GET", "/v1/images");
    return res.images;
  }

  /** `name` or `name:tag`; base images too. */
  getImage(name: string): Promise<ImageDetailT> {
    return this.transport.json<ImageDetailT>("GET", `/v1/images/${enc(name)}`);
  }

  /** Removes a built image (`name` or `name:tag`) from the project; answers what was removed. */
  deleteImage(name: string): Promise<ImageDetailT> {
    return this.transport.json<ImageDetailT>("DELETE", `/v1/images/${enc(name)}`);
  }

  /** The image as an OCI image layout tar stream (skopeo's `oci-archive:`). */
  exportImage(name: string, signal?: AbortSignal): Promise<Readable> {
    return exportImage(this.transport, name, signal);
  }

  /** Registers an OCI image layout tar or `docker save` tar as `name` (`tag` defaults to latest). */
  importImage(tar: Readable | Uint8Array, options: { name: string; tag?: string; replace?: boolean; signal?: AbortSignal }): Promise<ImageDetailT> {
    return importImage(this.transport, tar, options);
  }

  /** Pushes `name[:tag]` to `registry/repo:tag` over the OCI distribution API. */
  pushImage(name: string, reference: string, credentials?: RegistryCredentials): Promise<PushResult> {
    return pushImage(this.transport, name, reference, credentials);
  }

  /** Pulls `registry/repo:tag` into the project (as `name`, default the repository's last part). */
  pullImage(reference: string, options?: RegistryCredentials & { name?: string; tag?: string; replace?: boolean }): Promise<PullResult> {
    return pullImage(this.transport, reference, options);
  }

  /** Whether the daemon already holds the context tar with this digest (`sha256:<hex>`). */
  async hasContext(digest: string): Promise<boolean> {
    try {
      await this.transport.empty("HEAD", `/v1/contexts/${digest}`);
      return true;
    } catch (err) {
      if (err instanceof SbxError && err.status === 404) return false;
      throw err;
    }
  }

  /** Uploads a context tar; the daemon checks that its sha256 is `digest`. */
  uploadContext(digest: string, tar: Readable | Uint8Array, signal?: AbortSignal): Promise<{ digest: string; sizeBytes: number }> {
    return this.transport.json("PUT", `/v1/contexts/${digest}`, { body: tar, contentType: "application/x-tar", signal, stream: true });
  }

  /** Starts a build in the background (its contexts must be uploaded first). */
  createBuild(request: CreateBuildRequestT): Promise<BuildT> {
    return this.transport.json<BuildT>("POST", "/v1/builds", { json: request });
  }

  /** Builds of the project, newest first. */
  async listBuilds(): Promise<BuildT[]> {
    const res = await this.transport.json<{ builds: BuildT[] }>("GET", "/v1/builds");
    return res.builds;
  }

  getBuild(id: string): Promise<BuildT> {
    return this.transport.json<BuildT>("GET", `/v1/builds/${enc(id)}`);
  }

  /** Cancels a build; its build sandbox is removed. */
  cancelBuild(id: string): Promise<BuildT> {
    return this.transport.json<BuildT>("DELETE", `/v1/builds/${enc(id)}`);
  }

  /** A build's events from its start; with `follow`, also new ones until the `done` event. */
  async *buildEvents(id: string, options: { follow?: boolean; signal?: AbortSignal } = {}): AsyncGenerator<BuildEventT> {
    const body = await this.transport.stream("GET", `/v1/builds/${enc(id)}/events`, { query: { follow: options.follow }, signal: options.signal });
    for await (const value of ndjson(body)) {
      // Unknown event types are skipped so newer daemons stay compatible.
      const type = (value as { type?: unknown }).type;
      if (type === "build" || type === "step" || type === "log" || type === "step_done" || type === "done") yield value as BuildEventT;
    }
  }

  async listProjects(): Promise<ProjectT[]> {
    const res = await this.transport.json<{ projects: ProjectT[] }>("GET", "/v1/projects");
    return res.projects;
  }

  createProject(name: string): Promise<ProjectT> {
    return this.transport.json<ProjectT>("POST", "/v1/projects", { json: { name } });
  }

  /** Mints a token for TCP access to `project`; the secret is in the answer once. */
  createToken(project: string): Promise<TokenT> {
    return this.transport.json<TokenT>("POST", `/v1/projects/${enc(project)}/tokens`);
  }

  listSnapshots(): Promise<SnapshotT[]> {
    return this.transport.json<{ snapshots: SnapshotT[] }>("GET", "/v1/snapshots").then((r) => r.snapshots);
  }

  getSnapshot(id: string): Promise<SnapshotT> {
    return this.transport.json<SnapshotT>("GET", `/v1/snapshots/${enc(id)}`);
  }

  deleteSnapshot(id: string): Promise<SnapshotT> {
    return this.transport.json<SnapshotT>("DELETE", `/v1/snapshots/${enc(id)}`);
  }

  /** Registers a snapshot as a named image of the project (`name` or `name:tag`). */
  registerImage(ref: string, snapshotId: string, options: { replace?: boolean } = {}): Promise<ImageT> {
    const i = ref.lastIndexOf(":");
    const [name, tag] = i > 0 ? [ref.slice(0, i), ref.slice(i + 1)] : [ref, undefined];
    return this.transport.json<ImageT>("POST", "/v1/images", { json: { name, tag, snapshotId, replace: options.replace } });
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

