// The metadata store interface: projects, tokens, sandboxes and processes. SQLite implements it
// now (sqlite-store.ts); a Postgres store can later pass the same conformance suite.

export type SandboxStatus = "pending" | "running" | "terminated";

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
  env: Record<string, string>;
  /** The image's runtime config at launch time (env list, workdir, user), kept so exec can apply it. */
  config: { env: string[]; workingDir: string; user: string };
  netSlot: number | null;
  ipAddress: string | null;
  createdAt: string;
  startedAt: string | null;
  terminatedAt: string | null;
  terminationReason: string | null;
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

export interface Store {
  close(): void;

  listProjects(): ProjectRecord[];
  getProject(name: string): ProjectRecord | undefined;
  insertProject(p: ProjectRecord): void;

  insertToken(t: TokenRecord): void;
  findTokenByHash(hash: string): TokenRecord | undefined;

  insertSandbox(s: SandboxRecord): void;
  updateSandbox(id: string, patch: Partial<Omit<SandboxRecord, "id" | "project">>): void;
  getSandbox(id: string): SandboxRecord | undefined;
  findSandboxByName(project: string, name: string): SandboxRecord | undefined;
  listSandboxes(filter: { project?: string; includeTerminated?: boolean }): SandboxRecord[];
  usedNetSlots(): Set<number>;

  insertProcess(p: ProcessRecord): void;
  updateProcess(id: string, patch: Partial<Omit<ProcessRecord, "id" | "sandboxId">>): void;
  getProcess(sandboxId: string, id: string): ProcessRecord | undefined;
  listProcesses(sandboxId: string): ProcessRecord[];
  listRunningProcesses(): ProcessRecord[];
}
