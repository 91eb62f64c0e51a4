// The metadata store interfaces: projects, tokens, sandboxes and processes (Store); builds, images,
// the step cache and snapshots (ImageStore). All async with transactions, so the SQLite stores of
// today (sqlite-store.ts) and a PostgreSQL one later pass the same conformance suites.
import type {
  BuildRecord,
  BuildState,
  ImageRecord,
  LayerRecord,
  PortExposureRecord,
  ProcessRecord,
  ProjectRecord,
  SandboxRecord,
  SnapshotRecord,
  TemplateBuildRecord,
  TemplateBuildState,
  TokenRecord,
  VolumeRecord,
} from "../domain/records.js";

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
  /** A project's tokens, oldest first (never their secrets: only hashes are stored). */
  listTokens(project: string): Promise<TokenRecord[]>;
  /** Answers whether there was such a token. */
  deleteToken(project: string, id: string): Promise<boolean>;
  /** Removes a project and its tokens (the caller checks that nothing else refers to it). */
  deleteProject(name: string): Promise<boolean>;

  insertSandbox(s: SandboxRecord): Promise<void>;
  updateSandbox(id: string, patch: Partial<Omit<SandboxRecord, "id" | "project">>): Promise<void>;
  getSandbox(id: string): Promise<SandboxRecord | undefined>;
  findSandboxByName(project: string, name: string): Promise<SandboxRecord | undefined>;
  listSandboxes(filter: { project?: string; includeTerminated?: boolean }): Promise<SandboxRecord[]>;
  /** Forgets a terminated sandbox's record with its processes and port exposures (retention, prune). */
  deleteSandbox(id: string): Promise<boolean>;
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
  /**
   * Ids of the sandbox's exited processes other than its newest `keep` (by start, running ones
   * counted), oldest first: what process history forgets (services/process-retention.ts).
   */
  exitedProcessesBeyond(sandboxId: string, keep: number): Promise<string[]>;
  /** Forgets processes of a sandbox (process history); answers how many there were. */
  deleteProcesses(sandboxId: string, ids: string[]): Promise<number>;

  /** Adds an exposure or replaces the one of the same sandbox and port. */
  putPortExposure(e: PortExposureRecord): Promise<void>;
  getPortExposure(sandboxId: string, port: number): Promise<PortExposureRecord | undefined>;
  /** By port; every sandbox's when no id is given. */
  listPortExposures(sandboxId?: string): Promise<PortExposureRecord[]>;
  /** Removes one port's exposure (answers whether there was one), or all of a sandbox's. */
  deletePortExposure(sandboxId: string, port?: number): Promise<boolean>;

  /** Adds a volume; already_exists when the project has one of that name. */
  insertVolume(v: VolumeRecord): Promise<void>;
  /** By project and name. In a transaction it also locks the volume (PostgreSQL: FOR UPDATE) until the end. */
  getVolume(project: string, name: string): Promise<VolumeRecord | undefined>;
  /** By name; every project's when none is given (reconciliation). */
  listVolumes(project?: string): Promise<VolumeRecord[]>;
  deleteVolume(id: string): Promise<boolean>;
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

/** Images, builds, the step cache and snapshots (separate from Store so the sandbox store stays small). */
export interface ImageOps {
  insertBuild(b: BuildRecord): Promise<void>;
  updateBuild(id: string, patch: Partial<Omit<BuildRecord, "id" | "project">>): Promise<void>;
  getBuild(id: string): Promise<BuildRecord | undefined>;
  listBuilds(project: string): Promise<BuildRecord[]>;
  listBuildsInState(states: BuildState[]): Promise<BuildRecord[]>;

  /** Tensorlake template builds (the compat routes' Image.build()). */
  insertTemplateBuild(b: TemplateBuildRecord): Promise<void>;
  updateTemplateBuild(id: string, patch: Partial<Omit<TemplateBuildRecord, "id" | "project">>): Promise<void>;
  getTemplateBuild(id: string): Promise<TemplateBuildRecord | undefined>;
  listTemplateBuildsInState(states: TemplateBuildState[]): Promise<TemplateBuildRecord[]>;

  getLayer(key: string): Promise<LayerRecord | undefined>;
  putLayer(l: LayerRecord): Promise<void>;
  /** Also drops the step cache's pointers at it (pointStep): none outlives its layer. */
  deleteLayer(key: string): Promise<void>;
  listLayers(): Promise<LayerRecord[]>;
  /**
   * The step cache: the layer the newest build of a step made. That is the row of the step's key,
   * unless a later build of the step committed its layer under a key of its own (pointStep).
   */
  getStepLayer(stepKey: string): Promise<LayerRecord | undefined>;
  /**
   * Records that the newest build of a step made the layer `layerKey` (its row written before), so
   * the step cache gives that one from now on, as Docker's does. `layerKey === stepKey`: the
   * step's own row again, any earlier pointer dropped.
   */
  pointStep(stepKey: string, layerKey: string): Promise<void>;

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
