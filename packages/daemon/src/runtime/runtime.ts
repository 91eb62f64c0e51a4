// The sandbox runtime interface: what services/ may ask of whatever isolates sandboxes (crun
// containers now, microVMs later). Implementations do all host work; they keep no metadata.
import type { Readable } from "node:stream";
import type { ProcessFiles, LaunchedProcess } from "./process-supervisor.js";
import type { RawEntry } from "./sandbox-files.js";
import type { EgressPolicy } from "../domain/egress-policy.js";
import type { SandboxSpec } from "../domain/sandbox-spec.js";
import type { HostTerminal } from "./pty-exec.js";

// The spec is the domain's (one builder, specFor, for every kind of sandbox); re-exported for adapters.
export type { SandboxSpec };

export interface ProcessSpec {
  argv: string[];
  env: string[];
  cwd: string;
  user: string;
  stdin: boolean;
}

export interface SandboxRuntime {
  readonly name: string;
  /** Creates and starts the sandbox; on failure nothing is left behind. */
  create(spec: SandboxSpec): Promise<{ ipAddress: string | null }>;
  /**
   * Gives a running sandbox created with `from` (a warm-pool blank) the limits, disk size and
   * network of `to`. Only what differs is changed.
   */
  reconfigure(from: SandboxSpec, to: SandboxSpec): Promise<{ ipAddress: string | null }>;
  /** Kills everything in the sandbox and releases its mounts, cgroups and network. Idempotent. */
  destroy(id: string, netSlot: number | null): Promise<void>;
  /** Replaces the egress policy of a running sandbox with a network slot, atomically. */
  updateEgress(id: string, netSlot: number, policy: EgressPolicy): Promise<void>;
  isRunning(id: string): Promise<boolean>;
  /**
   * Stops the sandbox's processes and hands its writable layer (the overlay upper dir, still
   * mounted) to `capture`. The caller destroys the sandbox afterwards, whatever happened.
   */
  capture<T>(id: string, capture: (upperDir: string) => Promise<T>): Promise<T>;
  /**
   * Freezes every process of a running sandbox, hands its writable layer to `capture` for a
   * point-in-time copy, then thaws it, whatever `capture` did. The sandbox keeps running.
   */
  captureLive<T>(id: string, capture: (upperDir: string) => Promise<T>): Promise<T>;
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

  startProcess(id: string, procId: string, spec: ProcessSpec): Promise<LaunchedProcess>;
  processFiles(id: string, procId: string): ProcessFiles;
  /**
   * Runs a process on a terminal of its own (cols x rows) in the sandbox; the daemon holds the
   * other end, so the process does not outlive the daemon's hold on it.
   */
  openTerminal(
    id: string,
    termId: string,
    spec: Omit<ProcessSpec, "stdin"> & { cols: number; rows: number },
  ): HostTerminal;

  readFile(id: string, path: string): Promise<Buffer>;
  writeFile(id: string, path: string, data: Buffer): Promise<void>;
  listDirectory(id: string, path: string): Promise<RawEntry[]>;
  deleteFile(id: string, path: string, recursive: boolean): Promise<void>;
  extractArchive(id: string, dir: string, tarball: Buffer, gzip: boolean): Promise<void>;
  createArchive(id: string, path: string): Promise<Readable>;
}
