// Tar archives into and out of a FakeRuntime sandbox's files, as the crun runtime's helper does
// them: an upload is unpacked whole or not at all, every entry resolved inside the sandbox's root;
// a download is the subtree of one path.
import { posix } from "node:path";
import { Readable } from "node:stream";
import { fileErrors } from "../file-errors.js";
import { toTarEntry, type FakeFs } from "./fake-fs.js";
import { readTar, writeTar } from "./memory-tar.js";

/** Unpacks the archive under `dir` (made if missing); a bad archive changes nothing. */
export async function extractInto(fs: FakeFs, dir: string, archive: Readable): Promise<void> {
  const bytes = await collect(archive);
  const entries = await readTar(bytes).catch((err: Error) => {
    throw fileErrors.failed(dir, `tar: ${err.message}`);
  });
  const existing = fs.stat(dir);
  if (existing && existing.type !== "directory") throw fileErrors.notADirectory(dir);
  fs.mkdirp(dir);
  for (const e of entries) {
    // Resolved inside the sandbox's root: `..` can only ever reach the sandbox's own files.
    const path = posix.resolve(dir, e.name);
    if (path === "/") continue;
    const meta = { mode: (e.mode ?? 0o644) & 0o7777, uid: 0, gid: 0, mtime: e.mtime ?? 0 };
    if (e.type === "directory") fs.put(path, { ...meta, type: "directory" });
    else if (e.type === "file") fs.put(path, { ...meta, type: "file", data: e.data ?? Buffer.alloc(0) });
    else if (e.type === "symlink") fs.put(path, { ...meta, type: "symlink", target: e.linkname ?? "" });
    else if (e.type === "hardlink")
      fs.put(path, { ...meta, type: "file", data: fs.readFile(posix.resolve(dir, e.linkname ?? "")) });
  }
}

/** `path` and everything under it as a tar stream, named relative to the parent of `path`. */
export function archiveOf(fs: FakeFs, path: string): Readable {
  if (!fs.stat(path, false)) throw fileErrors.notFound(path);
  return Readable.from([writeTar(fs.subtree(path).map(([name, n]) => toTarEntry(name, n)))]);
}

/** The whole stream, or its error: nothing is applied from a stream that failed. */
export async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks);
}
