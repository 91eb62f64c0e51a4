// Sandbox: one sandbox as an object (Tensorlake's TypeScript SDK names): create/connect, run
// commands, background processes, files and directory trees, info and terminate.
import type { Duplex, Readable } from "node:stream";
import type {
  PortExposure,
  CreateSandboxRequest,
  CreateTerminalRequest,
  DirectoryListing,
  ProcessInfo,
  SandboxInfo,
  SandboxUsage,
  StartProcessRequest,
  SnapshotInfo,
  TerminalInfo,
  UpdateNetworkRequest,
} from "@sbx-sh/protocol";
import { apiPath, SbxError } from "@sbx-sh/protocol";
import { SandboxClient } from "./client.js";
import { openPortStream } from "./port-stream.js";
import { readFileStream, readFileWhole } from "./file-read.js";
import { pathQuery, type SandboxPath } from "./file-path.js";
import {
  downloadArchive,
  downloadDirectory,
  listDirectory,
  listDirectoryPages,
  uploadArchive,
  uploadDirectory,
} from "./file-tree.js";
import { processRequest, type RunOptions, type StartProcessOptions } from "./process-options.js";
import { collectResult, SandboxProcess, streamEvents, type CommandResult, type ProcessEvent } from "./process.js";
import { Terminal, type TerminalOptions } from "./terminal.js";
import type { ClientOptions } from "./config.js";
import type { Transport } from "./transport.js";

/** `pool`: claim a sandbox from that pool (its image and settings) instead; the other options must be absent. */
export type CreateSandboxOptions = CreateSandboxRequest & { pool?: string | undefined };

/** Where a Sandbox gets its client: options to build one, or an existing client to share. */
export type ClientLike = ClientOptions | SandboxClient;

export type { ProcessOptions, RunOptions, StartProcessOptions } from "./process-options.js";

export class Sandbox {
  readonly id: string;
  readonly client: SandboxClient;
  private record: SandboxInfo;

  private constructor(client: SandboxClient, record: SandboxInfo) {
    this.client = client;
    this.record = record;
    this.id = record.id;
  }

  /** Creates a sandbox and resolves once it is running. */
  static async create(options: CreateSandboxOptions = {}, client?: ClientLike): Promise<Sandbox> {
    const c = toClient(client);
    const { pool, ...request } = options;
    if (pool !== undefined && Object.keys(request).length > 0)
      throw new SbxError("invalid_argument", "a sandbox from a pool takes the pool's settings: give only { pool }");
    return new Sandbox(c, pool !== undefined ? await c.claim(pool) : await c.create(request));
  }

  /** Attaches to an existing sandbox by id or name (also Tensorlake's `{ sandboxId }` form). */
  static async connect(
    idOrName: string | { sandboxId?: string; id?: string; name?: string },
    client?: ClientLike,
  ): Promise<Sandbox> {
    const c = toClient(client);
    const id =
      typeof idOrName === "string"
        ? idOrName
        : typeof idOrName === "object" && idOrName !== null
          ? (idOrName.sandboxId ?? idOrName.id ?? idOrName.name)
          : undefined;
    if (typeof id !== "string" || id === "")
      throw new SbxError(
        "invalid_argument",
        'Sandbox.connect takes a sandbox id or name: Sandbox.connect("sb-…") or Sandbox.connect({ sandboxId: "sb-…" })',
      );
    return new Sandbox(c, await c.get(id));
  }

  /** The sandbox record as last fetched (create, connect, info or terminate); no request. */
  get lastInfo(): SandboxInfo {
    return this.record;
  }

  get name(): string | null {
    return this.record.name;
  }

  private get transport(): Transport {
    return this.client.transport;
  }

  async info(): Promise<SandboxInfo> {
    this.record = await this.client.get(this.id);
    return this.record;
  }

  /** Resource use now: cpu (percent since the previous reading), memory, pids, disk and network bytes. */
  stats(): Promise<SandboxUsage> {
    return this.transport.json<SandboxUsage>("GET", apiPath("sandboxStats", { id: this.id }));
  }

  /** Replaces the egress policy: `allowOut` / `denyOut` IPv4 addresses or CIDRs; an omitted list is unchanged. */
  async updateNetwork(policy: UpdateNetworkRequest): Promise<SandboxInfo> {
    this.record = await this.client.updateNetwork(this.id, policy);
    return this.record;
  }

  /** Makes `port` reachable at a URL of the daemon's HTTP proxy (with a token unless `public`). */
  exposePort(port: number, options: { public?: boolean } = {}): Promise<PortExposure> {
    return this.client.exposePort(this.id, port, options);
  }

  closePort(port: number): Promise<PortExposure> {
    return this.client.closePort(this.id, port);
  }

  listPorts(): Promise<PortExposure[]> {
    return this.client.listPorts(this.id);
  }

  /** A TCP connection to `port` inside the sandbox, through the daemon (works over TCP hosts too). */
  connect(port: number): Promise<Duplex> {
    return openPortStream(this.transport, this.id, port);
  }

  async terminate(): Promise<SandboxInfo> {
    this.record = await this.client.terminate(this.id);
    return this.record;
  }

  /** Sets the timeout to `timeoutSecs` from now (0: none), as E2B's setTimeout; `sbx update --timeout`. */
  async setTimeout(timeoutSecs: number): Promise<SandboxInfo> {
    this.record = await this.client.setTimeout(this.id, timeoutSecs);
    return this.record;
  }

  /** Runs a command to completion as a stream of events: started, stdout/stderr chunks, exit. */
  async *exec(command: string, options: RunOptions = {}): AsyncGenerator<ProcessEvent> {
    const body = await this.transport.stream("POST", apiPath("sandboxExec", { id: this.id }), {
      json: processRequest(command, options),
      signal: options.signal,
    });
    yield* streamEvents(body);
  }

  /** A point-in-time copy of the sandbox's files; the sandbox keeps running. */
  snapshot(options: { type?: "filesystem" | "memory" } = {}): Promise<SnapshotInfo> {
    return this.transport.json<SnapshotInfo>("POST", apiPath("sandboxSnapshot", { id: this.id }), { json: options });
  }

  /** N new sandboxes from a snapshot of this one; the snapshot is deleted afterwards unless `keepSnapshot`. */
  async copy(options: { times?: number; keepSnapshot?: boolean } = {}): Promise<Sandbox[]> {
    const res = await this.transport.json<{ sandboxes: SandboxInfo[] }>(
      "POST",
      apiPath("sandboxCopy", { id: this.id }),
      {
        json: { times: options.times ?? 1, ...(options.keepSnapshot ? { keepSnapshot: true } : {}) },
      },
    );
    return res.sandboxes.map((s) => new Sandbox(this.client, s));
  }

  /** Saves a named sandbox's files and releases its processes and memory; `resume()` brings it back. */
  async suspend(): Promise<SandboxInfo> {
    this.record = await this.transport.json<SandboxInfo>("POST", apiPath("sandboxSuspend", { id: this.id }));
    return this.record;
  }

  async resume(): Promise<SandboxInfo> {
    this.record = await this.transport.json<SandboxInfo>("POST", apiPath("sandboxResume", { id: this.id }));
    return this.record;
  }

  /** Runs `command` (no shell: pass `args`, or run `sh` with `args: ["-c", script]`) and waits. */
  run(command: string, options: RunOptions = {}): Promise<CommandResult> {
    if (options.args === undefined && /\s/.test(command.trim()))
      return Promise.reject(
        new SbxError(
          "invalid_argument",
          `${JSON.stringify(command)} is run as one program name: sbx starts no shell. ` +
            `Pass the arguments apart, run(${JSON.stringify(command.trim().split(/\s+/)[0])}, { args: ${JSON.stringify(command.trim().split(/\s+/).slice(1))} }), ` +
            `or use a shell: run("sh", { args: ["-c", ${JSON.stringify(command)}] })`,
        ),
      );
    return collectResult(this.exec(command, options), options, command);
  }

  /** Starts a process in the background and returns its handle at once. */
  async startProcess(command: string, options: StartProcessOptions = {}): Promise<SandboxProcess> {
    const body: StartProcessRequest = {
      ...processRequest(command, options),
      ...(options.stdin ? { stdin: true } : {}),
    };
    const proc = await this.transport.json<ProcessInfo>("POST", apiPath("processes", { id: this.id }), { json: body });
    return new SandboxProcess(this.transport, this.id, proc.id, proc);
  }

  async listProcesses(): Promise<ProcessInfo[]> {
    const res = await this.transport.json<{ processes: ProcessInfo[] }>("GET", apiPath("processes", { id: this.id }));
    return res.processes;
  }

  async getProcess(id: string): Promise<SandboxProcess> {
    const proc = await this.transport.json<ProcessInfo>("GET", apiPath("process", { id: this.id, pid: id }));
    return new SandboxProcess(this.transport, this.id, proc.id, proc);
  }

  /** Opens a terminal (a shell by default) of cols x rows and attaches to it. */
  async createTerminal(options: TerminalOptions): Promise<Terminal> {
    const req: CreateTerminalRequest = { cols: options.cols, rows: options.rows };
    if (options.command) req.command = options.command;
    if (options.args) req.args = options.args;
    if (options.env) req.env = options.env;
    if (options.workingDir) req.workingDir = options.workingDir;
    if (options.user) req.user = options.user;
    const t = await this.transport.json<TerminalInfo>("POST", apiPath("terminals", { id: this.id }), { json: req });
    return Terminal.attach(this.transport, this.id, t.id);
  }

  /** Terminals of this sandbox: running ones, and those that exited in the last few minutes. */
  async listTerminals(): Promise<TerminalInfo[]> {
    return (await this.transport.json<{ terminals: TerminalInfo[] }>("GET", apiPath("terminals", { id: this.id })))
      .terminals;
  }

  /** The whole file, in memory: at most MAX_READ_FILE_BYTES (256 MiB); bigger ones: readFileStream(). */
  readFile(path: SandboxPath): Promise<Buffer> {
    return readFileWhole(this.transport, this.id, path);
  }

  /** The file's bytes as the daemon streams them from the sandbox; `size` when known up front. */
  readFileStream(path: SandboxPath, options: { signal?: AbortSignal } = {}): Promise<Readable & { size?: number }> {
    return readFileStream(this.transport, this.id, path, options.signal);
  }

  /** Writes a whole file, creating parent directories. */
  writeFile(path: SandboxPath, data: string | Uint8Array): Promise<void> {
    return this.transport.empty("PUT", apiPath("files", { id: this.id }), {
      query: pathQuery(path),
      body: typeof data === "string" ? Buffer.from(data) : data,
    });
  }

  /**
   * Lists a directory (names in byte order). A name that is not UTF-8 comes with its bytes
   * (`nameBase64`); `entryPath(dir, entry)` gives the path to read or delete it by. With `limit` or `cursor`, answers that one page
   * (`nextCursor` asks for the next); without, follows every page and answers all entries.
   */
  listDirectory(path: SandboxPath, page: { limit?: number; cursor?: string } = {}): Promise<DirectoryListing> {
    return listDirectory(this.transport, this.id, path, page);
  }

  /** The pages of a directory listing, one request each, the next asked for only when wanted. */
  listDirectoryPages(path: SandboxPath, limit?: number): AsyncGenerator<DirectoryListing> {
    return listDirectoryPages(this.transport, this.id, path, limit);
  }

  deleteFile(path: SandboxPath, options: { recursive?: boolean } = {}): Promise<void> {
    return this.transport.empty("DELETE", apiPath("files", { id: this.id }), {
      query: { ...pathQuery(path), recursive: options.recursive },
    });
  }

  /** Unpacks a tar (or tar.gz) stream into `remoteDir`, which is created; the upload is streamed. */
  uploadArchive(remoteDir: string, archive: Readable | Uint8Array | AsyncIterable<Uint8Array>): Promise<void> {
    return uploadArchive(this.transport, this.id, remoteDir, archive);
  }

  /** A tar stream holding `remotePath` (a file or a tree) under its basename. */
  downloadArchive(remotePath: string, options: { signal?: AbortSignal } = {}): Promise<Readable> {
    return downloadArchive(this.transport, this.id, remotePath, options.signal);
  }

  /** Copies what is inside `localDir` into `remoteDir` (created if missing). */
  uploadDirectory(localDir: string, remoteDir: string): Promise<void> {
    return uploadDirectory(this.transport, this.id, localDir, remoteDir);
  }

  /** Copies what is inside the sandbox directory `remotePath` into `localDir` (created if missing). */
  downloadDirectory(
    remotePath: string,
    localDir: string,
    options: { onWarning?: (message: string, refused: boolean) => void } = {},
  ): Promise<void> {
    return downloadDirectory(this.transport, this.id, remotePath, localDir, options);
  }
}

function toClient(client: ClientLike | undefined): SandboxClient {
  return client instanceof SandboxClient ? client : new SandboxClient(client ?? {});
}
