// Context tars of copy()/add() steps, exactly as docs/api.md says: one tar per step, entries
// `<i>/<name>` for its i-th source, sorted, mtime 0, uid/gid 0, modes kept, symlinks as links (a
// top-level symlink source is followed), so the tar's sha256 is a content digest.
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { lstat, open, readdir, readlink, realpath, stat, type FileHandle } from "node:fs/promises";
import { basename, isAbsolute, join, relative, resolve, sep } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import type { CopySource } from "@sbx-sh/protocol";
import { SbxError } from "@sbx-sh/protocol";
import { archiveKind, checkArchive } from "./archive-check.js";
import type { CopyStep } from "./image.js";
import { IgnoreRules } from "./sbxignore.js";
import { formatSource } from "./source-location.js";

export interface PackedContext {
  /** `sha256:<hex>` of the tar. */
  digest: string;
  /** The tar, in the caller's temp dir. */
  file: string;
  sizeBytes: number;
  sources: CopySource[];
}

export interface PackOptions {
  /** Relative sources are resolved here; nothing outside it is packed. */
  contextDir: string;
  /** Where tars and downloads go; the caller removes it. */
  tmpDir: string;
  ignore?: IgnoreRules;
  signal?: AbortSignal;
  /** Label for errors, e.g. `step 4/6 (COPY a /b at image.ts:7)`. */
  label?: string;
}

interface Entry {
  path: string;
  type: "File" | "Directory" | "SymbolicLink";
  mode: number;
  size: number;
  /** Where a file's bytes come from. */
  from?: string;
  linkpath?: string;
}

const MAX_USTAR_SIZE = 0o77777777777;

/** The label errors of a step use: `step 4 (COPY scripts/ /opt/ at image.ts:7:4)`. */
export function stepLabel(step: CopyStep, number: number, total?: number): string {
  const where = formatSource(step.source);
  return `step ${number}${total ? `/${total}` : ""} (${step.text}${where ? ` at ${where}` : ""})`;
}

/** Resolves the step's sources, writes its tar into `tmpDir` and answers its digest and sources. */
export async function packCopyStep(step: CopyStep, index: number, o: PackOptions): Promise<PackedContext> {
  const label = o.label ?? stepLabel(step, index + 1);
  const ignore = o.ignore ?? new IgnoreRules();
  const sources: CopySource[] = [];
  const entries: Entry[] = [];
  for (const src of step.src) {
    if (/^https?:\/\//i.test(src)) {
      const name = urlFileName(src, step.dest, label);
      const file = join(o.tmpDir, `download-${index}-${sources.length}`);
      const size = await download(src, file, label, o.signal);
      // Docker gives downloaded files mode 0600; chmod changes it.
      entries.push({ path: `${sources.length}/${name}`, type: "File", mode: 0o600, size, from: file });
      sources.push({ name, type: "file" });
      continue;
    }
    for (const rel of await expand(src, o.contextDir, ignore, label)) {
      const i = sources.length;
      const abs = resolve(o.contextDir, rel);
      await assertInsideContext(abs, src, o.contextDir, label);
      let st;
      try {
        st = await stat(abs); // follows a top-level symlink, as Docker does
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        const what =
          code === "ENOENT" ? "no such file or directory" : code === "EACCES" ? "permission denied" : String(err);
        throw new SbxError(
          "invalid_argument",
          `${label}: ${src}: ${what} (looked in ${o.contextDir})`,
          { source: src, contextDir: o.contextDir },
          { cause: err },
        );
      }
      const name = rel === "." ? basename(o.contextDir) || "context" : basename(abs);
      if (st.isDirectory()) {
        entries.push({ path: `${i}/${name}/`, type: "Directory", mode: st.mode & 0o7777, size: 0 });
        await walk(abs, rel === "." ? "" : rel, `${i}/${name}/`, ignore, entries);
        sources.push({ name, type: "dir" });
      } else if (st.isFile()) {
        entries.push({ path: `${i}/${name}`, type: "File", mode: st.mode & 0o7777, size: st.size, from: abs });
        const kind = step.op === "add" ? archiveKind(name) : null;
        if (kind) await checkArchive(abs, kind, step.dest, label);
        sources.push(kind ? { name, type: "file", extract: true } : { name, type: "file" });
      } else {
        throw new SbxError("invalid_argument", `${label}: ${src} is neither a file nor a directory`);
      }
    }
  }
  entries.sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
  const file = join(o.tmpDir, `context-${index}.tar`);
  const { digest, sizeBytes } = await writeTar(entries, file, label, o.signal);
  return { digest, file, sizeBytes, sources };
}

/**
 * A source followed through symbolic links (its own or its parents') must still be inside the
 * context: an untrusted checkout's `secrets -> ~/.ssh` must not put the host's files in an image.
 */
async function assertInsideContext(abs: string, src: string, contextDir: string, label: string): Promise<void> {
  const real = await realpath(abs).catch(() => null);
  if (real === null) return; // missing: stat reports it
  const root = await realpath(contextDir);
  if (real !== root && !real.startsWith(root.endsWith(sep) ? root : root + sep)) {
    throw new SbxError(
      "invalid_argument",
      `${label}: ${src} leads outside the build context ${contextDir} through a symbolic link (to ${real})`,
      { source: src, contextDir },
    );
  }
}

/** One source string as context-relative paths: itself, or the sorted matches of a glob. */
async function expand(src: string, contextDir: string, ignore: IgnoreRules, label: string): Promise<string[]> {
  // Imported on first use, so `import { Sandbox } from "sbx"` does not pay for the glob matcher.
  const { glob, isDynamicPattern } = await import("tinyglobby");
  const rel = relative(contextDir, resolve(contextDir, src)) || ".";
  if (rel === ".." || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
    throw new SbxError(
      "invalid_argument",
      `${label}: ${src} is outside the build context ${contextDir} (set contextDir, or --context, to a folder that holds it)`,
    );
  }
  const posixRel = rel.split(sep).join("/");
  if (!isDynamicPattern(src)) {
    const isDir = (await stat(resolve(contextDir, rel)).catch(() => null))?.isDirectory() ?? false;
    if (posixRel !== "." && ignore.ignoresWithParents(posixRel, isDir)) {
      throw new SbxError(
        "invalid_argument",
        `${label}: ${src} is excluded by ${ignore.file ?? join(contextDir, ".sbxignore")}`,
      );
    }
    return [rel];
  }
  const found = await glob(posixRel, { cwd: contextDir, onlyFiles: false, expandDirectories: false, dot: true });
  const matches = found
    .map((m) => ({ path: m.replace(/\/$/, ""), dir: m.endsWith("/") }))
    .filter((m) => !ignore.ignoresWithParents(m.path, m.dir))
    .map((m) => m.path)
    .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  if (!matches.length)
    throw new SbxError("invalid_argument", `${label}: nothing matches ${src} (looked in ${contextDir})`, {
      source: src,
      contextDir,
    });
  return matches;
}

/** Adds what is below `dir` (context path `rel`) as entries under `prefix`; symlinks stay links. */
async function walk(dir: string, rel: string, prefix: string, ignore: IgnoreRules, out: Entry[]): Promise<void> {
  const names = (await readdir(dir)).sort();
  for (const name of names) {
    const abs = join(dir, name);
    const childRel = rel ? `${rel}/${name}` : name;
    const st = await lstat(abs);
    if (ignore.ignores(childRel, st.isDirectory())) continue;
    const path = `${prefix}${name}`;
    if (st.isSymbolicLink())
      out.push({ path, type: "SymbolicLink", mode: 0o777, size: 0, linkpath: await readlink(abs) });
    else if (st.isDirectory()) {
      out.push({ path: `${path}/`, type: "Directory", mode: st.mode & 0o7777, size: 0 });
      await walk(abs, childRel, `${path}/`, ignore, out);
    } else if (st.isFile()) out.push({ path, type: "File", mode: st.mode & 0o7777, size: st.size, from: abs });
    // Sockets, fifos and devices have no content to copy; they are left out, as git does.
  }
}

async function writeTar(
  entries: Entry[],
  file: string,
  label: string,
  signal?: AbortSignal,
): Promise<{ digest: string; sizeBytes: number }> {
  // node-tar is loaded when a build packs files: every CLI command starts with this module loaded
  // (~6 ms of CPU for tar and the zlib under it), most never pack anything.
  const tar = await import("tar");
  const hash = createHash("sha256");
  const fh = await open(file, "w", 0o600);
  let sizeBytes = 0;
  const put = async (buf: Buffer) => {
    hash.update(buf);
    sizeBytes += buf.length;
    await writeAll(fh, buf);
  };
  try {
    for (const e of entries) {
      signal?.throwIfAborted();
      const header = new tar.Header({
        path: e.path,
        type: e.type,
        mode: e.mode,
        uid: 0,
        gid: 0,
        size: e.size,
        mtime: new Date(0),
        uname: "",
        gname: "",
        linkpath: e.linkpath ?? "",
      });
      const block = Buffer.alloc(512);
      // encode() answers true when a field does not fit ustar; a PAX header then carries it.
      if (header.encode(block)) {
        await put(
          new tar.Pax({
            path: e.path,
            linkpath: e.linkpath,
            size: e.size > MAX_USTAR_SIZE ? e.size : undefined,
          }).encode(),
        );
      }
      await put(block);
      if (e.type !== "File" || !e.from || e.size === 0) continue;
      let copied = 0;
      for await (const chunk of createReadStream(e.from, { end: Math.max(0, e.size - 1), signal })) {
        copied += (chunk as Buffer).length;
        await put(chunk as Buffer);
      }
      if (copied !== e.size)
        throw new SbxError("failed_precondition", `${label}: ${e.from} changed while it was being packed; try again`);
      if (e.size % 512) await put(Buffer.alloc(512 - (e.size % 512)));
    }
    await put(Buffer.alloc(1024));
  } finally {
    await fh.close();
  }
  return { digest: `sha256:${hash.digest("hex")}`, sizeBytes };
}

async function writeAll(fh: FileHandle, buf: Buffer): Promise<void> {
  for (let off = 0; off < buf.length;) off += (await fh.write(buf, off)).bytesWritten;
}

/** The file name a URL gives its download: the last path component, else the destination's. */
function urlFileName(url: string, dest: string, label: string): string {
  const last = new URL(url).pathname.split("/").pop() ?? "";
  let name: string;
  try {
    name = decodeURIComponent(last);
  } catch {
    name = last;
  }
  if (!name && !dest.endsWith("/")) name = basename(dest);
  if (!name || name === "." || name === ".." || name.includes("/") || Buffer.byteLength(name) > 255) {
    throw new SbxError(
      "invalid_argument",
      `${label}: cannot tell a file name from ${url}: give a destination that ends in the file name`,
    );
  }
  return name;
}

async function download(url: string, file: string, label: string, signal?: AbortSignal): Promise<number> {
  let res: Response;
  try {
    res = await fetch(url, { redirect: "follow", signal });
  } catch (err) {
    if (signal?.aborted) throw err;
    const cause = (err as { cause?: { message?: string } }).cause?.message;
    throw new SbxError(
      "failed_precondition",
      `${label}: cannot download ${url}: ${cause ?? (err instanceof Error ? err.message : String(err))}`,
      undefined,
      { cause: err },
    );
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel().catch(() => undefined);
    throw new SbxError(
      "failed_precondition",
      `${label}: cannot download ${url}: HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ""}`,
    );
  }
  await pipeline(
    Readable.fromWeb(res.body as WebReadableStream<Uint8Array>),
    createWriteStream(file, { mode: 0o600 }),
    { signal },
  );
  return (await stat(file)).size;
}
