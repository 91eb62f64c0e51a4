// The daemon itself, projects and API tokens on the wire.

export interface DaemonInfo {
  version: string;
  runtime: string;
  cgroupVersion: 1 | 2;
  /** The host's data directory: told over the unix socket only (a host path is not a token holder's business). */
  dataDir?: string;
  sandboxesRunning: number;
}

export interface Project {
  name: string;
  createdAt: string;
}

export interface Token {
  id: string;
  project: string;
  /** The secret itself: only in the answer that created it. */
  token?: string | undefined;
  createdAt: string;
}
