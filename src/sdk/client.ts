// SandboxClient: the daemon-level calls of the API (sandboxes as records, daemon info, images,
// projects and tokens). Working inside one sandbox is the job of the Sandbox class.
import type { CreateSandboxRequest, DaemonInfoT, ImageT, SandboxT } from "../api/schemas.js";
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

  terminate(idOrName: string): Promise<SandboxT> {
    return this.transport.json<SandboxT>("DELETE", `/v1/sandboxes/${enc(idOrName)}`);
  }

  async listImages(): Promise<ImageT[]> {
    const res = await this.transport.json<{ images: ImageT[] }>("GET", "/v1/images");
    return res.images;
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

  /** Releases the connection pool; pending requests finish first. */
  close(): Promise<void> {
    return this.transport.close();
  }
}

