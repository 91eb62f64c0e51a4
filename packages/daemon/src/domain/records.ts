// The daemon's records: what it knows about projects, tokens, sandboxes, processes, exposed ports,
// builds, the step cache, images and snapshots. The store keeps them; the services take and return
// them; api/ maps them to the wire. Plain data, no behaviour.
import type { SandboxStatus } from "./sandbox-state.js";

export type { SandboxStatus };

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
  /** Labels for filtering (absent in older records: none). */
  labels?: Record<string, string>;
  /** Names of the secrets given at create; the values are in a 0600 file, not here. */
  secretNames?: string[];
  /** Volumes mounted in it (absent in older records: none); held until it is terminated. */
  volumes?: SandboxVolume[];
  /** The image's runtime config at launch time (env list, workdir, user), kept so exec can apply it. */
  config: {
    env: string[];
    workingDir: string;
    user: string;
    systemd?: boolean;
    /** The program started as a background process at create (ENTRYPOINT + CMD, or the request's); null: none. */
    entrypoint?: string[] | null;
  };
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

/** A volume as a sandbox mounts it. */
export interface SandboxVolume {
  name: string;
  volumeId: string;
  path: string;
  readOnly: boolean;
}

/** A named, project-scoped persistent directory with a size cap (its disk is the runtime's). */
export interface VolumeRecord {
  id: string;
  project: string;
  name: string;
  sizeMb: number;
  createdAt: string;
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
   * Secret for non-public access (X-Sbx-Token / sbx_token). Never stored: the store keeps "" here
   * and the nonce and hash below; the port service derives it again for the owning project.
   */
  token: string;
  /** What the token is derived from (with the daemon's key); absent in records of older daemons. */
  nonce?: string;
  /** sha256 of the token, hex. */
  tokenHash?: string;
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

export type BuildState = "queued" | "running" | "succeeded" | "failed" | "cancelled";

/**
 * A Tensorlake template build (`Image.build()` through the compat routes): what the SDK prepared,
 * polls and completes. Kept in the store so it outlives the daemon: one that was going on when
 * the daemon stopped is failed at the next start, with the reason.
 */
export type TemplateBuildState = "prepared" | "building" | "succeeded" | "failed";
export interface TemplateBuildRecord {
  id: string;
  project: string;
  /** The template's (image's) name. */
  name: string;
  state: TemplateBuildState;
  /** The registered image once it succeeded. */
  imageId: string | null;
  failure: string | null;
  createdAt: string;
  endedAt: string | null;
  /** The daemon running it (services/build-owner.ts); absent in records from before owners. */
  owner?: string;
}

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
  /** The daemon running it (services/build-owner.ts); absent in records from before owners. */
  owner?: string;
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
  /**
   * A config-only step's: the key its own chains from (the layer or config step below, or the
   * base's), so garbage collection drops the row once that is gone (build/step-cache.ts).
   */
  parent?: string;
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
  /**
   * Made by a copy as its means (`copy` without --keep-snapshot): the copy deletes it when it ends,
   * and the next start deletes it if the daemon died first (the copy died with it).
   */
  forFork?: boolean;
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

/** A terminal the daemon holds (in memory only: terminals end with the daemon). */
export interface TerminalRecord {
  id: string;
  sandboxId: string;
  command: string;
  args: string[];
  cols: number;
  rows: number;
  status: "running" | "exited";
  exitCode: number | null;
  /** Clients attached now. */
  attached: number;
  createdAt: string;
  endedAt: string | null;
}

/** One entry of a directory in a sandbox. */
export interface FileEntry {
  name: string;
  type: "file" | "directory" | "symlink" | "other";
  size: number;
  /** Permission bits (and setuid/setgid/sticky), without the file type. */
  mode: number;
  modifiedAt: string;
}

/** A base image: built from a recipe on first use, shared by every project. */
export interface BaseImageRecord {
  name: string;
  /** sha256 of its rootfs tar: its id. */
  digest: string;
  sizeBytes: number;
  config: ImageRecord["config"];
}

/** An image a project can launch, as the image service lists and inspects them. */
export type ImageEntry = { kind: "base"; base: BaseImageRecord } | { kind: "built"; image: ImageRecord };

/** One event of a process's output: a chunk of stdout/stderr (base64) or the final exit. */
export type ProcessOutputEvent =
  | { type: "stdout"; data: string }
  | { type: "stderr"; data: string }
  | { type: "exit"; exitCode: number | null; signal: string | null; timedOut: boolean };
