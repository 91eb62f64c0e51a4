// What callers ask of the services: the inputs of the use cases, as the domain names them. api/
// validates a request body against its schema and hands it over as one of these; a second API
// surface would build the same commands from its own requests. Optional fields take the defaults
// of domain/limits.ts.
import type { ImageDefinition } from "@sbx-sh/protocol";
import type { EgressEntries } from "./egress-policy.js";

/** Create a sandbox from an image (default: the daemon's default image) or from a snapshot. */
export interface CreateSandbox {
  image?: string | undefined;
  snapshotId?: string | undefined;
  name?: string | undefined;
  cpus?: number | undefined;
  memoryMb?: number | undefined;
  pidsLimit?: number | undefined;
  diskMb?: number | undefined;
  /** 0: no timeout. */
  timeoutSecs?: number | undefined;
  allowInternetAccess?: boolean | undefined;
  /** Egress lists as given: IPv4 addresses, CIDRs and host names. */
  allowOut?: string[] | undefined;
  denyOut?: string[] | undefined;
  env?: Record<string, string> | undefined;
  labels?: Record<string, string> | undefined;
  /** Program to start at create instead of the image's ENTRYPOINT + CMD. */
  entrypoint?: string[] | undefined;
  /** Start no program at create. */
  noEntrypoint?: boolean | undefined;
  /** Env for every process, kept out of the metadata store (services/sandbox-secrets.ts). */
  secrets?: Record<string, string> | undefined;
  /** Volumes of the project to mount (domain/volume-rules.ts). */
  volumes?: Array<{ name: string; path: string; readOnly?: boolean | undefined }> | undefined;
}

/** Replace a sandbox's egress lists; an omitted list stays as it is. */
export type UpdateEgress = Partial<EgressEntries>;

/** Start a process in a running sandbox. */
export interface StartProcess {
  command: string;
  args?: string[] | undefined;
  env?: Record<string, string> | undefined;
  workingDir?: string | undefined;
  user?: string | undefined;
  timeoutSecs?: number | undefined;
  /** Keep stdin open for writes. */
  stdin?: boolean | undefined;
}

/** Open a terminal in a running sandbox (default program: bash if the image has it, else sh). */
export interface OpenTerminal {
  command?: string | undefined;
  args?: string[] | undefined;
  env?: Record<string, string> | undefined;
  workingDir?: string | undefined;
  user?: string | undefined;
  cols: number;
  rows: number;
}

/** Build an image from its step IR and register it under a name. */
export interface CreateBuild {
  definition: ImageDefinition;
  /** Name to register; defaults to the definition's name. */
  registeredName?: string | undefined;
  tag?: string | undefined;
  replace?: boolean | undefined;
  noCache?: boolean | undefined;
}
