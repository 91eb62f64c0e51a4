// The daemon itself, projects and API tokens on the wire.

export interface DaemonInfo {
  version: string;
  runtime: string;
  cgroupVersion: 1 | 2;
  dataDir: string;
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
