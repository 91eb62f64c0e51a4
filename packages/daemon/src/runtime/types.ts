// The vocabulary of the sandbox runtime seam, free of any backend: what a sandbox, a process, a
// terminal, a file entry and an exported layer look like to services/. Implementations (crun
// today; gVisor or a microVM with an in-guest agent later) import these; this file imports none of
// them, so a second backend is a new folder under runtime/, not a change to services/.
import type { Readable } from "node:stream";

/**
 * The in-sandbox helper contract every runtime keeps: HELPER_DIR is a small scratch tmpfs of its
 * own (root may write there; it is never part of an exported layer), and HELPER_BUSYBOX is a static
 * busybox that runs whatever the image holds (no shell, no libc). The build engine runs its copy
 * and mkdir scripts with it; file operations and user lookups of the crun runtime do too.
 */
export const HELPER_DIR = "/.sbx";
export const HELPER_BUSYBOX = `${HELPER_DIR}/busybox`;

// What a sandbox is and may reach are the domain's (domain/sandbox-spec.ts builds every spec);
// the runtime takes them as they are.
export type { EgressPolicy } from "../domain/egress-policy.js";
export type { SandboxSpec } from "../domain/sandbox-spec.js";

export interface ProcessSpec {
  argv: string[];
  env: string[];
  cwd: string;
  /** Numeric `uid:gid` (see SandboxRuntime.resolveUser). */
  user: string;
  stdin: boolean;
}

export type OutputStream = "stdout" | "stderr";

/**
 * A process started in a sandbox, shaped like containerd's Process. It outlives the daemon: after a
 * restart, `attachProcess` gives a handle on it back (output, exit and signals; stdin does not
 * survive, its writer was the old daemon).
 */
export interface ProcessHandle {
  readonly sandboxId: string;
  readonly id: string;
  /** Up to `max` bytes of the stream from `offset`; empty at the current end (or once the output was discarded). */
  read(stream: OutputStream, offset: number, max?: number): Promise<Buffer>;
  /** The exit code once the process has ended, undefined while it runs. */
  exitCode(): Promise<number | undefined>;
  /**
   * Resolves once the process has ended: its exit code (128+n for a death by signal n), or null
   * when it ended without one (its sandbox went away). `signal` stops waiting (resolves undefined).
   */
  wait(signal?: AbortSignal): Promise<number | null | undefined>;
  /** Sends a signal to the process; false when it was no longer there to receive it. */
  signal(sig: NodeJS.Signals): Promise<boolean>;
  /** Whether this handle can still write to the process's stdin. */
  readonly stdinOpen: boolean;
  writeStdin(data: Buffer): Promise<void>;
  /** Closes stdin (the process reads EOF); idempotent. */
  closeStdin(): Promise<void>;
}

export interface TerminalSpec {
  argv: string[];
  env: string[];
  cwd: string;
  user: string;
  cols: number;
  rows: number;
  /**
   * Kept by runtimes whose terminals outlive the daemon (the agent's), and handed back by
   * adoptTerminals after a restart: what the caller needs to show the terminal again.
   */
  record?: unknown;
}

/** A program on a terminal of its own; the daemon holds the other end, so it does not outlive the daemon. */
export interface TerminalHandle {
  onData(cb: (data: Buffer) => void): void;
  /** Called once, with the program's exit code (128+n when the relay itself died of signal n). */
  onExit(cb: (exitCode: number) => void): void;
  write(data: Buffer | string): void;
  resize(cols: number, rows: number): Promise<void>;
  /** Kills the program (SIGKILL); onExit follows. */
  kill(): Promise<void>;
}

/** One directory entry as the sandbox sees it (mode with the file type bits, mtime in seconds). */
export interface FileEntry {
  name: string;
  mode: number;
  size: number;
  mtime: number;
}

/**
 * A sandbox's writable layer in overlayfs form: whiteouts as 0/0 character devices, opaque
 * directories marked by the `trusted.overlay.opaque` xattr, owners as the sandbox sees them shifted
 * like the lowers. Either a directory on this host (read it, never change it) or a tar stream of one
 * (numeric owners, trusted.* xattrs). Never contains HELPER_DIR's contents.
 */
export type LayerSource = { kind: "directory"; path: string } | { kind: "tar"; stream: Readable };

/** What a runtime can do, declared once at startup, so services ask it instead of probing the host. */
export interface RuntimeCapabilities {
  /** Snapshots of process memory (CRIU or a VM's), and why not when unsupported. */
  memorySnapshots: { supported: boolean; reason: string };
  /** exportLayer({ live: true }): a point-in-time copy of a running sandbox's writable layer. */
  liveCapture: boolean;
  /** Sandboxes get user namespaces (ids inside are not host ids) unless their spec asks for host ids. */
  userNamespaces: boolean;
}

/** A sandbox's resource use as the host sees it: counters since it started, and gauges now. */
export interface SandboxStats {
  /** CPU time used by everything in the sandbox, in microseconds (a counter). */
  cpuUsec: number;
  /** Memory in use, without page cache the kernel can reclaim. */
  memoryBytes: number;
  memoryLimitBytes: number | null;
  pids: number;
  /** Bytes used on its writable layer, and that layer's size cap. */
  diskBytes: number;
  diskLimitBytes: number | null;
  /** Bytes the sandbox received and sent on its network interface (counters; 0 without a network). */
  netRxBytes: number;
  netTxBytes: number;
}
