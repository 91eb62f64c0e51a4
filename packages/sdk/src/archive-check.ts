// Checks a local archive that add() will unpack, before it leaves this machine: every entry must
// land inside the destination (no absolute names, no `..`, no links that lead out, nothing
// written through a link). node-tar reads tar and gzip; bzip2 and xz go through their tools.
import { spawn } from "node:child_process";
import { createReadStream } from "node:fs";
import { posix } from "node:path";
import type { Parser } from "tar";
import { SbxError } from "@sbx-sh/protocol";

export type ArchiveKind = "tar" | "gzip" | "bzip2" | "xz";

const SUFFIXES: Array<[string, ArchiveKind]> = [
  [".tar", "tar"],
  [".tar.gz", "gzip"],
  [".tgz", "gzip"],
  [".tar.bz2", "bzip2"],
  [".tbz2", "bzip2"],
  [".tar.xz", "xz"],
  [".txz", "xz"],
];

/** The kind of archive a file name says it is, or null for anything add() copies as is. */
export function archiveKind(name: string): ArchiveKind | null {
  const lower = name.toLowerCase();
  return SUFFIXES.find(([suffix]) => lower.endsWith(suffix))?.[1] ?? null;
}

export interface ArchiveEntry {
  path: string;
  type: string;
  linkpath?: string;
}

/** Lists the entries of a local archive. */
export async function listArchive(file: string, kind: ArchiveKind): Promise<ArchiveEntry[]> {
  const entries: ArchiveEntry[] = [];
  // Loaded here, not with the module: see writeTar in image-context.ts.
  const tar = await import("tar");
  const parser = new tar.Parser({
    strict: true,
    onReadEntry: (e) => {
      entries.push({ path: e.path, type: e.type, ...(e.linkpath ? { linkpath: e.linkpath } : {}) });
      e.resume();
    },
  });
  const done = new Promise<void>((resolve, reject) => {
    parser.on("end", resolve);
    parser.on("error", reject);
  });
  // Awaited below; this only keeps an early failure elsewhere from leaving it unhandled.
  done.catch(() => undefined);
  try {
    if (kind === "tar" || kind === "gzip") {
      // node-tar recognises gzip by its magic bytes.
      await feed(createReadStream(file), parser);
    } else {
      await decompressInto(file, kind === "bzip2" ? "bzip2" : "xz", parser);
    }
    await done;
  } catch (err) {
    if (err instanceof SbxError) throw err;
    throw new SbxError(
      "invalid_archive",
      `not a readable ${kind === "tar" ? "tar" : `${kind} tar`} archive (${err instanceof Error ? err.message : String(err)})`,
      undefined,
      { cause: err },
    );
  }
  return entries;
}

async function decompressInto(file: string, tool: "bzip2" | "xz", parser: Parser): Promise<void> {
  const child = spawn(tool, ["-dc", "--", file], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number>((resolve, reject) => {
    child.on("error", (err: NodeJS.ErrnoException) =>
      reject(
        err.code === "ENOENT"
          ? new SbxError(
              "failed_precondition",
              `reading ${tool} archives needs the \`${tool}\` program on this machine: install it`,
            )
          : err,
      ),
    );
    child.on("close", (code) => resolve(code ?? 1));
  });
  const checked = exited.then((code) => {
    if (code !== 0) throw new Error(`${tool} failed: ${stderr.trim() || `exit code ${code}`}`);
  });
  // The exit is awaited alongside, so a missing tool fails instead of waiting for output forever.
  await Promise.all([feed(child.stdout, parser), checked]);
}

/** Writes a byte stream into node-tar's parser (an event emitter, not a Node stream) with backpressure. */
async function feed(source: AsyncIterable<Buffer>, parser: Parser): Promise<void> {
  for await (const chunk of source) {
    if (!parser.write(chunk)) await new Promise((resolve) => parser.once("drain", resolve));
  }
  parser.end();
}

/**
 * Why `entry` would escape an extraction into `dest` (given the links seen before it), or null
 * when it stays inside. Hard link targets are archive paths; symlink targets are relative to the
 * link's folder, or absolute inside the sandbox.
 */
export function escapeReason(entry: ArchiveEntry, dest: string, links: Set<string>): string | null {
  const path = entry.path.replace(/^(\.\/)+/, "");
  if (path.startsWith("/")) return "its name is an absolute path";
  const parts = path.split("/").filter((p) => p && p !== ".");
  if (parts.includes("..")) return "its name contains `..`";
  for (let i = 1; i < parts.length; i++) {
    const parent = parts.slice(0, i).join("/");
    if (links.has(parent)) return `it is written through the symbolic link ${parent}`;
  }
  const target = entry.linkpath ?? "";
  if (entry.type === "Link") {
    if (target.startsWith("/") || leaves(posix.normalize(target.replace(/^(\.\/)+/, ""))))
      return `it is a hard link to ${target}, outside the archive`;
    const targetParts = posix.normalize(target).split("/");
    for (let i = 1; i <= targetParts.length; i++) {
      if (links.has(targetParts.slice(0, i).join("/")))
        return `it is a hard link through the symbolic link ${targetParts.slice(0, i).join("/")}`;
    }
  }
  if (entry.type === "SymbolicLink") {
    links.add(parts.join("/"));
    if (target.startsWith("/")) {
      const d = posix.normalize(dest);
      const t = posix.normalize(target);
      if (!dest.startsWith("/") || (t !== d.replace(/\/$/, "") && !t.startsWith(d.endsWith("/") ? d : `${d}/`)))
        return `it is a symbolic link to ${target}, outside ${dest}`;
    } else if (leaves(posix.normalize(posix.join(posix.dirname(parts.join("/")), target)))) {
      return `it is a symbolic link to ${target}, outside ${dest}`;
    }
  }
  return null;
}

function leaves(normalized: string): boolean {
  return normalized === ".." || normalized.startsWith("../");
}

/** Refuses an archive with any entry that would escape `dest`; `label` names the step for the error. */
export async function checkArchive(file: string, kind: ArchiveKind, dest: string, label: string): Promise<number> {
  let entries: ArchiveEntry[];
  try {
    entries = await listArchive(file, kind);
  } catch (err) {
    if (err instanceof SbxError)
      throw new SbxError(err.code, `${label}: ${err.message}`, { ...err.details, archive: file }, { cause: err });
    throw err;
  }
  const links = new Set<string>();
  for (const entry of entries) {
    const why = escapeReason(entry, dest, links);
    if (why) {
      throw new SbxError(
        "invalid_archive",
        `${label}: refusing to unpack ${file}: entry ${JSON.stringify(entry.path)} would land outside ${dest} (${why})`,
        {
          archive: file,
          entry: entry.path,
        },
      );
    }
  }
  return entries.length;
}
