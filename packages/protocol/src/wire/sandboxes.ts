// Sandboxes on the wire: what `POST /v1/sandboxes` takes and what every sandbox route returns.

import type { VolumeMount } from "./volumes.js";

export type SandboxStatus = "pending" | "running" | "suspended" | "terminated";

export interface CreateSandboxRequest {
  /** Image name; default debian-minimal. */
  image?: string | undefined;
  name?: string | undefined;
  cpus?: number | undefined;
  memoryMb?: number | undefined;
  pidsLimit?: number | undefined;
  diskMb?: number | undefined;
  /** 0 disables the timeout. */
  timeoutSecs?: number | undefined;
  allowInternetAccess?: boolean | undefined;
  /** Only these IPv4 addresses/CIDRs (and DNS to the resolvers) are reachable; host names are resolved by the daemon. */
  allowOut?: string[] | undefined;
  /** IPv4 addresses/CIDRs dropped even if allowed. */
  denyOut?: string[] | undefined;
  env?: Record<string, string> | undefined;
  /** Start from this snapshot instead of an image. */
  snapshotId?: string | undefined;
  /** Key/value labels for filtering (`ls --filter label=k=v`); values are one printable line. */
  labels?: Record<string, string> | undefined;
  /**
   * The program to start as a background process once the sandbox runs, instead of the image's
   * ENTRYPOINT + CMD (Tensorlake's create-time `entrypoint`). Its output is in the process's logs.
   */
  entrypoint?: string[] | undefined;
  /** Start nothing, even if the image has an ENTRYPOINT or CMD. */
  noEntrypoint?: boolean | undefined;
  /** Environment variables for every process, like env, but never answered by the API (only their names). */
  secrets?: Record<string, string> | undefined;
  /** Volumes of the project to mount (`sbx volume create`); read-write is one sandbox at a time. */
  volumes?: VolumeMount[] | undefined;
  /** Where a cluster control plane may place the sandbox; a single daemon refuses a node selector. */
  placement?: SandboxPlacement | undefined;
}

export interface SandboxPlacement {
  /** Only nodes carrying every one of these labels (`sbx node add --label k=v`). */
  nodeSelector?: Record<string, string> | undefined;
}

export interface SandboxInfo {
  id: string;
  name: string | null;
  project: string;
  image: string;
  imageId: string;
  status: SandboxStatus;
  cpus: number;
  memoryMb: number;
  pidsLimit: number;
  diskMb: number;
  timeoutSecs: number;
  allowInternetAccess: boolean;
  /** Enforced now: addresses and CIDRs, host names replaced by their current addresses. */
  allowOut: string[];
  denyOut: string[];
  /** The lists as given: CIDRs and host names. */
  egressEntries: { allowOut: string[]; denyOut: string[] };
  /** Host name → its current IPv4 addresses. */
  egressHosts: Record<string, string[]>;
  env: Record<string, string>;
  /** Names of the secrets given at create; their values are never answered. */
  secrets?: string[];
  /** The volumes mounted in it (absent in older daemons' answers). */
  volumes?: Array<{ name: string; path: string; readOnly: boolean }>;
  ipAddress: string | null;
  snapshotId: string | null;
  createdAt: string;
  startedAt: string | null;
  terminatedAt: string | null;
  /** requested | timeout | died | daemon_restart | error */
  terminationReason: string | null;
  labels: Record<string, string>;
  /** When the timeout ends it (null: no timeout, or not running). */
  expiresAt: string | null;
}

/** Change a running sandbox's settings: its timeout, counted from now (0: never). */
export interface UpdateSandboxRequest {
  timeoutSecs?: number | undefined;
}

export interface UpdateNetworkRequest {
  /** Replaces the list; omitted = unchanged, [] = no restriction. */
  allowOut?: string[] | undefined;
  /** Replaces the list; omitted = unchanged. */
  denyOut?: string[] | undefined;
}
