// Processes on the wire: starting one, its record, and the NDJSON lines of its output stream.

export type ProcessStatus = "running" | "exited";

export interface StartProcessRequest {
  command: string;
  args?: string[] | undefined;
  env?: Record<string, string> | undefined;
  workingDir?: string | undefined;
  /** root, a uid, uid:gid, or a user name (name:group). */
  user?: string | undefined;
  timeoutSecs?: number | undefined;
  /** Keep stdin open for `POST …/stdin`. */
  stdin?: boolean | undefined;
}

export interface ProcessInfo {
  id: string;
  sandboxId: string;
  command: string;
  args: string[];
  status: ProcessStatus;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  stdin: boolean;
  startedAt: string;
  endedAt: string | null;
}

/** One line of an output stream: a chunk of stdout/stderr (base64) or the final exit. */
export type OutputEvent =
  | { type: "stdout"; data: string }
  | { type: "stderr"; data: string }
  | { type: "exit"; exitCode: number | null; signal: string | null; timedOut: boolean };
