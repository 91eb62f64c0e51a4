// The metadata store interface: projects, tokens, sandboxes and processes. SQLite implements it
// now (sqlite-store.ts); a Postgres store can later pass the same conformance suite.

export type SandboxStatus = "pending" | "running" | "suspended" | "terminated";

export interface SandboxRecord {
  id: string;
  project: string;
  name: string | null;
  image: string;
  imageId: string;
  status: SandboxStatus;
  cpus: number;
  memoryMb: number;
  pidsLimit: number;
  diskMb: number;
  timeoutSecs: number;
  allowInternetAccess: boolean;
  /** Egress policy (IPv4 addresses/CIDRs, names already resolved); absent in older records = open. */
  allowOut?: string[];
  denyOut?: string[];
  /** The lists as given (CIDRs and host names); absent in older records = allowOut/denyOut. */
  egressEntries?: { allowOut: string[]; denyOut: string[] };
  /** Current IPv4 addresses of the host names in egressEntries, re-resolved by the daemon. */
  egressHosts?: Record<string, string[]>;
  env: Record<string, string>;
  /** The image's runtime config at launch time (env list, workdir, user), kept so exec can apply it. */
  config: { env: string[]; workingDir: string; user: string; systemd?: boolean };
  netSlot: number | null;
  ipAddress: string | null;
  /** Layer dirs the sandbox stacks (top first): kept by garbage collection while it lives. */
  lowers?: string[];
  /** The stack it was made from, so a snapshot of it can stack one more layer. */
  source?: { layers: ImageLayerRef[]; baseDir: string; baseImage: string };
  /** The snapshot it was created from, if any (its layers stay while the sandbox lives). */
  snapshotId?: string | null;
  /** While suspended: the snapshot that resume starts from. */
  suspendSnapshotId?: string | null;
  createdAt: string;
  startedAt: string | null;
  terminatedAt: string | null;
  terminationReason: string | null;
}

export interface ProcessRecord {
  id: string;
  sandboxId: string;
  command: string;
  args: string[];
  status: "running" | "exited";
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  stdin: boolean;
  hostPid: number | null;
  deadline: string | null;
  startedAt: string;
  endedAt: string | null;
}

/** A sandbox port reachable through the daemon's HTTP proxy (`sbx port expose`). */
export interface PortExposureRecord {
  sandboxId: string;
  project: string;
  port: number;
  /** Reachable without the token. */
  public: boolean;
  /**
   * Secret for non-public access (X-Sbx-Token / sbx_token). Kept readable, unlike API tokens: it
   * opens one port of one sandbox, and the project that owns the sandbox may list it again.
   */
  token: string;
  createdAt: string;
}

export interface ProjectRecord {
  name: string;
  createdAt: string;
}

export interface TokenRecord {
  id: string;
  project: string;
  hash: string;
  createdAt: string;
}

export interface Store {
  close(): void;

  listProjects(): ProjectRecord[];
  getProject(name: string): ProjectRecord | undefined;
  insertProject(p: ProjectRecord): void;

  insertToken(t: TokenRecord): void;
  findTokenByHash(hash: string): TokenRecord | undefined;

  insertSandbox(s: SandboxRecord): void;
  updateSandbox(id: string, patch: Partial<Omit<SandboxRecord, "id" | "project">>): void;
  getSandbox(id: string): SandboxRecord | undefined;
  findSandboxByName(project: string, name: string): SandboxRecord | undefined;
  listSandboxes(filter: { project?: string; includeTerminated?: boolean }): SandboxRecord[];
  usedNetSlots(): Set<number>;

  insertProcess(p: ProcessRecord): void;
  updateProcess(id: string, patch: Partial<Omit<ProcessRecord, "id" | "sandboxId">>): void;
  getProcess(sandboxId: string, id: string): ProcessRecord | undefined;
  listProcesses(sandboxId: string): ProcessRecord[];
  listRunningProcesses(): ProcessRecord[];

  /** Adds an exposure or replaces the one of the same sandbox and port. */
  putPortExposure(e: PortExposureRecord): void;
  getPortExposure(sandboxId: string, port: number): PortExposureRecord | undefined;
  /** By port; every sandbox's when no id is given. */
  listPortExposures(sandboxId?: string): PortExposureRecord[];
  /** Removes one port's exposure (answers whether there was one), or all of a sandbox's. */
  deletePortExposure(sandboxId: string, port?: number): boolean;
}

export type BuildState = "queued" | "running" | "succeeded" | "failed" | "cancelled";

export interface BuildRecord {
  id: string;
  project: string;
  imageName: string;
  tag: string;
  state: BuildState;
  steps: number;
  imageId: string | null;
  failure: {
    step: number | null;
    text: string | null;
    source: { file: string; line: number; column?: number } | null;
    exitCode: number | null;
    message: string;
    lastLines: string[];
    code?: string;
  } | null;
  createdAt: string;
  startedAt: string | null;
  endedAt: string | null;
}

/** A cached step: the cache key of a step and, for steps that change files, the layer it made. */
export interface LayerRecord {
  key: string;
  /** null for steps that only change the image config (env, user, ...). */
  digest: string | null;
  dir: string | null;
  sizeBytes: number;
  step: string;
  createdAt: string;
}

export interface ImageLayerRef {
  key: string;
  digest: string;
  dir: string;
  sizeBytes: number;
  step: string;
  cached: boolean;
}

export interface ImageRecord {
  /** Unique handle of this registration (img-...). */
  ref: string;
  /** Content digest of layers + config: two identical builds share it. */
  id: string;
  project: string;
  name: string;
  tag: string;
  baseImage: string;
  baseId: string;
  baseDir: string;
  layers: ImageLayerRef[];
  config: {
    env: string[];
    workingDir: string;
    user: string;
    entrypoint: string[] | null;
    cmd: string[] | null;
    systemd: boolean;
  };
  sizeBytes: number;
  buildId: string | null;
  createdAt: string;
  /** Set by `image rm`; the record stays until no sandbox uses the image. */
  deletedAt: string | null;
}

export type SnapshotStatus = "in_progress" | "completed" | "failed";

export interface SnapshotRecord {
  id: string;
  project: string;
  type: "filesystem" | "memory";
  status: SnapshotStatus;
  sourceSandboxId: string;
  sourceImage: string;
  sourceImageId: string;
  parentSnapshotId: string | null;
  /** Made by suspend (removed on resume or terminate) rather than asked for. */
  forSuspend: boolean;
  /** The full stack, bottom first, above `baseDir`; the snapshot's own layer is last. */
  layers: ImageLayerRef[];
  baseDir: string;
  baseImage: string;
  config: ImageRecord["config"];
  sizeBytes: number;
  error: string | null;
  createdAt: string;
  completedAt: string | null;
}

/** Images, builds and the step cache (separate from Store so the sandbox store stays small). */
export interface ImageStore {
  insertBuild(b: BuildRecord): void;
  updateBuild(id: string, patch: Partial<Omit<BuildRecord, "id" | "project">>): void;
  getBuild(id: string): BuildRecord | undefined;
  listBuilds(project: string): BuildRecord[];
  listBuildsInState(states: BuildState[]): BuildRecord[];

  getLayer(key: string): LayerRecord | undefined;
  putLayer(l: LayerRecord): void;
  deleteLayer(key: string): void;
  listLayers(): LayerRecord[];

  /** Registers an image; with `replace`, a live image of the same name and tag is marked deleted first. */
  registerImage(img: ImageRecord, replace: boolean): void;
  findImage(project: string, name: string, tag: string): ImageRecord | undefined;
  listImages(project: string): ImageRecord[];
  /** Every registration, deleted ones included (garbage collection). */
  listAllImages(): ImageRecord[];
  markImageDeleted(ref: string): void;
  deleteImage(ref: string): void;

  insertSnapshot(s: SnapshotRecord): void;
  updateSnapshot(id: string, patch: Partial<Omit<SnapshotRecord, "id" | "project">>): void;
  getSnapshot(id: string): SnapshotRecord | undefined;
  listSnapshots(project?: string): SnapshotRecord[];
  deleteSnapshot(id: string): void;
}
