// The options of a command run in a sandbox (`Sandbox.run`, `exec`, `startProcess`) and the
// request body they become.
import type { StartProcessRequest } from "@sbx-sh/protocol";
import type { OutputHandlers } from "./process.js";

export interface ProcessOptions {
  args?: string[];
  env?: Record<string, string>;
  workingDir?: string;
  /** `root`, a uid, or `uid:gid`. */
  user?: string;
  /** Seconds; the process is killed when it runs longer. */
  timeout?: number;
}

export interface RunOptions extends ProcessOptions, OutputHandlers {}

export interface StartProcessOptions extends ProcessOptions {
  /** Keep stdin open for `writeStdin` / `closeStdin`. */
  stdin?: boolean;
}

/** The wire request for `command` with these options (a timeout is whole seconds, rounded up). */
export function processRequest(command: string, o: ProcessOptions): StartProcessRequest {
  const req: StartProcessRequest = { command };
  if (o.args) req.args = o.args;
  if (o.env) req.env = o.env;
  if (o.workingDir) req.workingDir = o.workingDir;
  if (o.user) req.user = o.user;
  if (o.timeout !== undefined && o.timeout > 0) req.timeoutSecs = Math.ceil(o.timeout);
  return req;
}
