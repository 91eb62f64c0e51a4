// Files of running sandboxes: read, write, list, delete, and tar upload/download. Writes and
// uploads stream through to the runtime, which applies nothing from a stream that fails; uploads
// are checked to be whole tar archives on the way (./tar-check.ts), so a bad one changes nothing.
// Reads stream from the runtime too, and must keep moving: one that makes no progress for the
// idle time (its reader stopped reading, or the file gives no bytes) is stopped, which frees what
// it holds (its project's read slot, the agent's connection and process).
import { pipeline, type Readable } from "node:stream";
import { SbxError } from "@sbx-sh/protocol";
import { idleGuard, idleSignal } from "../common/idle-guard.js";
import type { FileEntry } from "../domain/records.js";
import type { SandboxRuntime } from "../runtime/runtime.js";
import { readAll, type FileContent } from "../runtime/file-content.js";
import { assertSandboxPath } from "../runtime/sandbox-path.js";
import type { SandboxService } from "./sandbox-service.js";
import { TarCheck } from "./tar-check.js";
import { encodeCursor, pageRequest } from "./directory-cursor.js";

export const MAX_UPLOAD_BYTES = 1024 * 1024 * 1024;
/** How long a read may make no progress before it is stopped (the daemon's --read-idle). */
export const DEFAULT_READ_IDLE_MS = 30_000;

export class FileService {
  constructor(
    private readonly runtime: SandboxRuntime,
    private readonly sandboxes: SandboxService,
    private readonly readIdleMs = DEFAULT_READ_IDLE_MS,
  ) {}

  private async target(project: string, sandbox: string, path: string): Promise<string> {
    assertSandboxPath(path);
    return (await this.sandboxes.getRunning(project, sandbox)).id;
  }

  /**
   * The file's bytes as they are read (never held whole), with its size when known; `signal`
   * aborts the read before it began (the caller left). Stopped when idle for the idle time.
   */
  async read(project: string, sandbox: string, path: string, signal?: AbortSignal): Promise<FileContent> {
    const id = await this.target(project, sandbox, path);
    const idle = (): SbxError =>
      new SbxError(
        "runtime_error",
        `the read of ${path} made no progress for ${this.readIdleMs / 1000} s (its reader stopped reading, or the file gives no bytes): stopped`,
      );
    const start = idleSignal(this.readIdleMs, idle, signal);
    const content = await this.runtime.readFile(id, path, start.signal).finally(start.done);
    return { ...content, stream: idleGuard(content.stream, this.readIdleMs, idle) };
  }

  /** A small file whole (a build spec a sandbox wrote): past `max` bytes, payload_too_large. */
  async readSmall(project: string, sandbox: string, path: string, max: number): Promise<Buffer> {
    return readAll(await this.read(project, sandbox, path), max, path);
  }

  async write(project: string, sandbox: string, path: string, data: Readable): Promise<void> {
    return this.runtime.writeFile(await this.target(project, sandbox, path), path, data);
  }

  /** One page of a directory (./directory-cursor.ts); `nextCursor` asks for the page after it. */
  async list(
    project: string,
    sandbox: string,
    path: string,
    opts: { limit?: number; cursor?: string } = {},
  ): Promise<{ entries: FileEntry[]; nextCursor?: string }> {
    const request = pageRequest(opts.limit, opts.cursor);
    const page = await this.runtime.listDirectory(await this.target(project, sandbox, path), path, request);
    const last = page.entries.at(-1);
    const entries = page.entries.map((e) => ({
      name: e.name,
      type: fileType(e.mode),
      size: e.size,
      mode: e.mode & 0o7777,
      modifiedAt: new Date(e.mtime * 1000).toISOString(),
    }));
    return page.more && last ? { entries, nextCursor: encodeCursor(last.name) } : { entries };
  }

  async remove(project: string, sandbox: string, path: string, recursive: boolean): Promise<void> {
    return this.runtime.deleteFile(await this.target(project, sandbox, path), path, recursive);
  }

  async upload(project: string, sandbox: string, dir: string, tarball: Readable): Promise<{ entries: number }> {
    const id = await this.target(project, sandbox, dir);
    const check = new TarCheck();
    // The upload's own errors (its size cap) reach the runtime through the check.
    await this.runtime.extractArchive(
      id,
      dir,
      pipeline(tarball, check, () => undefined),
    );
    return { entries: check.entries };
  }

  async download(project: string, sandbox: string, path: string): Promise<Readable> {
    return this.runtime.createArchive(await this.target(project, sandbox, path), path);
  }
}

function fileType(mode: number): FileEntry["type"] {
  switch (mode & 0o170000) {
    case 0o100000:
      return "file";
    case 0o040000:
      return "directory";
    case 0o120000:
      return "symlink";
    default:
      return "other";
  }
}
