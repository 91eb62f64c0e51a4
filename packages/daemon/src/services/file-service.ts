// Files of running sandboxes: read, write, list, delete, and tar upload/download. Uploads are
// checked to be whole tar archives *before* anything in the sandbox changes; the unpacking
// itself happens inside the sandbox (see runtime/sandbox-files.ts).
import type { Readable } from "node:stream";
import { Parser } from "tar";
import { SbxError } from "@sbx-sh/protocol";
import type { FileEntry } from "../domain/records.js";
import type { SandboxRuntime } from "../runtime/runtime.js";
import { assertSandboxPath } from "../runtime/sandbox-files.js";
import type { SandboxService } from "./sandbox-service.js";

export const MAX_UPLOAD_BYTES = 1024 * 1024 * 1024;

export class FileService {
  constructor(
    private readonly runtime: SandboxRuntime,
    private readonly sandboxes: SandboxService,
  ) {}

  private async target(project: string, sandbox: string, path: string): Promise<string> {
    assertSandboxPath(path);
    return (await this.sandboxes.getRunning(project, sandbox)).id;
  }

  async read(project: string, sandbox: string, path: string): Promise<Buffer> {
    return this.runtime.readFile(await this.target(project, sandbox, path), path);
  }

  async write(project: string, sandbox: string, path: string, data: Buffer): Promise<void> {
    return this.runtime.writeFile(await this.target(project, sandbox, path), path, data);
  }

  async list(project: string, sandbox: string, path: string): Promise<FileEntry[]> {
    const raw = await this.runtime.listDirectory(await this.target(project, sandbox, path), path);
    return raw.map((e) => ({
      name: e.name,
      type: fileType(e.mode),
      size: e.size,
      mode: e.mode & 0o7777,
      modifiedAt: new Date(e.mtime * 1000).toISOString(),
    }));
  }

  async remove(project: string, sandbox: string, path: string, recursive: boolean): Promise<void> {
    return this.runtime.deleteFile(await this.target(project, sandbox, path), path, recursive);
  }

  async upload(project: string, sandbox: string, dir: string, tarball: Buffer): Promise<{ entries: number }> {
    const id = await this.target(project, sandbox, dir);
    const entries = await validateTar(tarball);
    await this.runtime.extractArchive(id, dir, tarball, isGzip(tarball));
    return { entries };
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

function isGzip(b: Buffer): boolean {
  return b.length > 2 && b[0] === 0x1f && b[1] === 0x8b;
}

/** Parses the whole archive (tar or tar.gz) without writing anything; throws invalid_archive. */
export function validateTar(tarball: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    let entries = 0;
    let problem: string | undefined;
    const parser = new Parser({
      strict: true,
      onReadEntry: (e) => {
        entries++;
        e.resume();
      },
    });
    parser.on("warn", (code: string, message: string) => (problem ??= `${code}: ${message}`));
    parser.on("error", (e: Error) => (problem ??= e.message));
    let settled = false;
    const settle = (): void => {
      if (settled) return;
      settled = true;
      if (problem || entries === 0)
        reject(
          new SbxError(
            "invalid_archive",
            `the upload is not a valid tar archive (${problem ?? "no entries"}): send a tar or tar.gz stream`,
          ),
        );
      else resolve(entries);
    };
    parser.on("end", settle);
    parser.on("close", settle);
    parser.end(tarball);
  });
}
