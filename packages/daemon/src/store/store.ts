// The metadata store interfaces: projects, tokens, sandboxes and processes (Store); builds, images,
// the step cache and snapshots (ImageStore). All async with transactions, so the SQLite stores of
// today (sqlite-store.ts) and a PostgreSQL one later pass the same conformance suites.

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

/**
 * Projects, tokens, sandboxes, processes and port exposures. Every method is async, so a store
 * backed by a network database (PostgreSQL) fits behind the same interface.
 */
export interface MetaOps {
  listProjects(): Promise<ProjectRecord[]>;
  getProject(name: string): Promise<ProjectRecord | undefined>;
  insertProject(p: ProjectRecord): Promise<void>;

  insertToken(t: TokenRecord): Promise<void>;
  findTokenByHash(hash: string): Promise<TokenRecord | undefined>;

  insertSandbox(s: SandboxRecord): Promise<void>;
  updateSandbox(id: string, patch: Partial<Omit<SandboxRecord, "id" | "project">>): Promise<void>;
  getSandbox(id: string): Promise<SandboxRecord | undefined>;
  findSandboxByName(project: string, name: string): Promise<SandboxRecord | undefined>;
  listSandboxes(filter: { project?: string; includeTerminated?: boolean }): Promise<SandboxRecord[]>;
  usedNetSlots(): Promise<Set<number>>;
  /**
   * The lowest network slot below `capacity` that no live sandbox holds and `reserved` (slots held
   * outside the store: build steps, warm blanks) does not name; failed_precondition when none is
   * free. Call it in a transaction together with the write that takes the slot: only then can no
   * other caller be given the same one (the unique index on live slots stays the final guard).
   */
  allocateNetSlot(capacity: number, reserved?: ReadonlySet<number>): Promise<number>;

  insertProcess(p: ProcessRecord): Promise<void>;
  updateProcess(id: string, patch: Partial<Omit<ProcessRecord, "id" | "sandboxId">>): Promise<void>;
  getProcess(sandboxId: string, id: string): Promise<ProcessRecord | undefined>;
  listProcesses(sandboxId: string): Promise<ProcessRecord[]>;
  listRunningProcesses(): Promise<ProcessRecord[]>;

  /** Adds an exposure or replaces the one of the same sandbox and port. */
  putPortExposure(e: PortExposureRecord): Promise<void>;
  getPortExposure(sandboxId: string, port: number): Promise<PortExposureRecord | undefined>;
  /** By port; every sandbox's when no id is given. */
  listPortExposures(sandboxId?: string): Promise<PortExposureRecord[]>;
  /** Removes one port's exposure (answers whether there was one), or all of a sandbox's. */
  deletePortExposure(sandboxId: string, port?: number): Promise<boolean>;
}

/** What a transaction's callback is handed: every method of both stores, all inside the one transaction. */
export type StoreTx = MetaOps & ImageOps;

/** Runs `fn` in one transaction of the database both stores share. */
export interface Transactional {
  /**
   * Everything `fn` writes through `tx` commits together when it resolves and is rolled back when
   * it throws. Callers outside never see its writes before the commit and never join it; with the
   * SQLite store they wait until it ends. Inside `fn` use only `tx`: the plain store methods (and a
   * nested transaction) would wait for this transaction, so they fail instead.
   */
  transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T>;
}

export interface Store extends MetaOps, Transactional {}

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

/** Images, builds, the step cache and snapshots (separate from Store so the sandbox store stays small). */
export interface ImageOps {
  insertBuild(b: BuildRecord): Promise<void>;
  updateBuild(id: string, patch: Partial<Omit<BuildRecord, "id" | "project">>): Promise<void>;
  getBuild(id: string): Promise<BuildRecord | undefined>;
  listBuilds(project: string): Promise<BuildRecord[]>;
  listBuildsInState(states: BuildState[]): Promise<BuildRecord[]>;

  getLayer(key: string): Promise<LayerRecord | undefined>;
  putLayer(l: LayerRecord): Promise<void>;
  deleteLayer(key: string): Promise<void>;
  listLayers(): Promise<LayerRecord[]>;

  /** Registers an image; with `replace`, a live image of the same name and tag is marked deleted first. */
  registerImage(img: ImageRecord, replace: boolean): Promise<void>;
  findImage(project: string, name: string, tag: string): Promise<ImageRecord | undefined>;
  listImages(project: string): Promise<ImageRecord[]>;
  /** Every registration, deleted ones included (garbage collection). */
  listAllImages(): Promise<ImageRecord[]>;
  markImageDeleted(ref: string): Promise<void>;
  deleteImage(ref: string): Promise<void>;

  insertSnapshot(s: SnapshotRecord): Promise<void>;
  updateSnapshot(id: string, patch: Partial<Omit<SnapshotRecord, "id" | "project">>): Promise<void>;
  getSnapshot(id: string): Promise<SnapshotRecord | undefined>;
  listSnapshots(project?: string): Promise<SnapshotRecord[]>;
  deleteSnapshot(id: string): Promise<void>;
}

export interface ImageStore extends ImageOps, Transactional {}

/** Both stores over one database, as openStores() gives them; close() releases the database. */
export interface Stores {
  meta: Store;
  images: ImageStore;
  close(): Promise<void>;
}
