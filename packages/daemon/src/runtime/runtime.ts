// The sandbox runtime interface: what services/ may ask of whatever isolates sandboxes (crun
// containers now, microVMs later). Implementations do all host work; they keep no metadata. Its
// vocabulary is in ./types.ts; nothing here depends on an implementation.
import type { Readable } from "node:stream";
import type { FileContent } from "./file-content.js";
import type { DirectoryPage, PageRequest } from "./directory-page.js";
import type {
  EgressPolicy,
  LayerSource,
  ProcessHandle,
  ProcessSpec,
  RuntimeCapabilities,
  SandboxSpec,
  SandboxStats,
  TerminalHandle,
  TerminalSpec,
} from "./types.js";
import type { VolumeDisks } from "./volume-disks.js";

export type * from "./types.js";
export { HELPER_BUSYBOX, HELPER_DIR } from "./types.js";

/** The runtimes `sbxd --runtime` accepts. */
export const RUNTIME_NAMES = ["crun"] as const;
export type RuntimeName = (typeof RUNTIME_NAMES)[number];

export interface SandboxRuntime {
  readonly name: string;
  readonly capabilities: RuntimeCapabilities;
  /** The disks of volumes on this host; absent: this runtime cannot mount volumes. */
  readonly volumes?: VolumeDisks;

  /** Creates and starts the sandbox; on failure nothing is left behind. */
  create(spec: SandboxSpec): Promise<{ ipAddress: string | null }>;
  /**
   * Gives a running sandbox created with `from` (a warm-pool blank) the limits, disk size and
   * network of `to`. Only what differs is changed.
   */
  reconfigure(from: SandboxSpec, to: SandboxSpec): Promise<{ ipAddress: string | null }>;
  /**
   * Kills everything in the sandbox and releases its mounts, cgroups and network. Idempotent.
   * `background`: answers once nothing in the sandbox runs any more and releases the rest after
   * (a create given the same network slot waits for it; a daemon that dies first leaves it to
   * cleanupLeaks at its next start).
   */
  destroy(id: string, netSlot: number | null, opts?: { background?: boolean }): Promise<void>;
  /** Replaces the egress policy of a running sandbox with a network slot, atomically. */
  updateEgress(id: string, netSlot: number, policy: EgressPolicy): Promise<void>;
  /** False for a sandbox that is stopped or unknown. */
  isRunning(id: string): Promise<boolean>;
  /** Resource use of a running sandbox (cgroup, writable layer, network interface); zeros for what is gone. */
  stats(id: string, netSlot: number | null): Promise<SandboxStats>;
  /**
   * Hands the sandbox's writable layer to `consume` (which the layer store commits) and answers
   * what `consume` answered. `live`: every process is frozen for a point-in-time copy and thawed
   * afterwards, whatever `consume` did; the sandbox keeps running (needs capabilities.liveCapture).
   * Not live: the sandbox's processes are stopped first, and the caller destroys it afterwards.
   */
  exportLayer<T>(id: string, opts: { live: boolean }, consume: (layer: LayerSource) => Promise<T>): Promise<T>;
  /**
   * Consecutive build steps in one sandbox: ends every process but the sandbox's init, then hands
   * its writable layer to `consume` while nothing can write to it; the sandbox keeps running.
   * Optional, and only for sandboxes `canCaptureQuiet` accepts (the builder falls back to one
   * sandbox per step, stopped by exportLayer).
   */
  canCaptureQuiet?(id: string): boolean;
  captureQuiet?<T>(id: string, consume: (layer: LayerSource) => Promise<T>): Promise<T>;
  /** Thaws a sandbox left frozen (e.g. by a daemon killed mid-snapshot). */
  thaw(id: string): Promise<void>;
  /** `root`, `uid`, `uid:gid`, `name` or `name:group` → numeric `uid:gid`, by the sandbox's own /etc/passwd. */
  resolveUser(id: string, user: string): Promise<string>;
  /** Runs a process to completion with its output streamed to `onOutput` (builds; not durable). */
  run(
    id: string,
    spec: Omit<ProcessSpec, "stdin">,
    onOutput: (stream: "stdout" | "stderr", data: Buffer) => void,
    signal?: AbortSignal,
  ): Promise<number>;
  /** How many network slots the host has (0 .. capacity-1); the store allocates them (allocateNetSlot). */
  readonly netSlotCapacity: number;
  /** Removes sandboxes, mounts and interfaces the metadata does not know as live. */
  cleanupLeaks(liveIds: Set<string>, liveSlots: Set<number>): Promise<string[]>;

  /** Starts a durable process (it survives a daemon restart); `procId` names it for attachProcess. */
  startProcess(id: string, procId: string, spec: ProcessSpec): Promise<ProcessHandle>;
  /** A handle on a process started earlier, by this daemon or one before it; process_not_found when there is none. */
  attachProcess(id: string, procId: string): Promise<ProcessHandle>;
  /** How full the sandbox's process output storage is, from 0 to 1. */
  outputUsage(id: string): Promise<number>;
  /** Drops the stored output of an ended process (log retention); reads then answer nothing. */
  discardOutput(id: string, procId: string): Promise<void>;
  /**
   * Drops all the runtime keeps of an ended process on disk: output, exit code, pid (process
   * history: the daemon forgot its record). A runtime may still know its exit in memory a while.
   */
  forgetProcess(id: string, procId: string): Promise<void>;
  /**
   * Runs a process on a terminal of its own (cols x rows) in the sandbox; the daemon holds the
   * other end, so the process does not outlive the daemon's hold on it.
   */
  openTerminal(id: string, termId: string, spec: TerminalSpec): TerminalHandle;
  /**
   * Terminals of the sandbox that outlived a previous daemon (the agent keeps them), re-attached,
   * with the `record` given when they were opened. Runtimes whose terminals end with the daemon
   * leave it out.
   */
  adoptTerminals?(id: string): Promise<Array<{ termId: string; record: unknown; handle: TerminalHandle }>>;

  /**
   * Waits for the teardowns still running after destroy answered (daemon stop: a sandbox the user
   * terminated should not keep its mounts until the next start). Runtimes that tear down before
   * answering leave it out.
   */
  settle?(): Promise<void>;

  /**
   * The file's bytes as a stream (./file-content.ts), answered once the read has begun (a missing
   * or unreadable file rejects with its coded error). The daemon never holds the file whole;
   * destroying the stream stops the read. `signal`: the caller left before the answer; the read
   * stops and rejects with its reason.
   */
  readFile(id: string, path: string, signal?: AbortSignal): Promise<FileContent>;
  /** Writes the stream to `path`, creating parents; nothing changes unless the whole stream arrives. */
  writeFile(id: string, path: string, data: Readable): Promise<void>;
  /** One page of a directory, in byte order of the names (./directory-page.ts). */
  listDirectory(id: string, path: string, page: PageRequest): Promise<DirectoryPage>;
  deleteFile(id: string, path: string, recursive: boolean): Promise<void>;
  /**
   * Unpacks a tar (or gzip-compressed tar) stream into `dir`, creating it; entries are owned by the
   * sandbox's root. Nothing in the sandbox changes unless the whole stream arrives: a stream that
   * errors (too big, invalid) rejects with its error and leaves the sandbox as it was.
   */
  extractArchive(id: string, dir: string, archive: Readable): Promise<void>;
  /** A tar stream of `path` (a file or a directory tree, named by its base name); file_not_found first if missing. */
  createArchive(id: string, path: string): Promise<Readable>;
}
