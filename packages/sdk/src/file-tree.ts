// Directory trees of a sandbox: listings followed page by page, and whole directories copied in
// and out as tar streams (the archive routes). `Sandbox` delegates its methods of the same names here.
// fs.promises, not node:fs/promises: the latter loads at import, the former on first use.
import { promises as fsp } from "node:fs";
import type { Readable } from "node:stream";
import { apiPath, type DirectoryListing } from "@sbx-sh/protocol";
import type { Transport } from "./transport.js";
import { pathQuery, pathText, type SandboxPath } from "./file-path.js";

/** Entries per request when a listing follows every page: the most the daemon answers at once. */
const FOLLOW_PAGE_ENTRIES = 10_000;

/** One page of `path`'s entries, or (no `limit`, no `cursor`) every page gathered. */
export async function listDirectory(
  transport: Transport,
  id: string,
  path: SandboxPath,
  page: { limit?: number; cursor?: string } = {},
): Promise<DirectoryListing> {
  if (page.limit !== undefined || page.cursor !== undefined)
    return listPage(transport, id, path, page.limit, page.cursor);
  const entries: DirectoryListing["entries"] = [];
  for await (const p of listDirectoryPages(transport, id, path)) entries.push(...p.entries);
  return { path: pathText(path), entries };
}

/** The pages of a directory listing, one request each, the next asked for only when wanted. */
export async function* listDirectoryPages(
  transport: Transport,
  id: string,
  path: SandboxPath,
  limit = FOLLOW_PAGE_ENTRIES,
): AsyncGenerator<DirectoryListing> {
  let cursor: string | undefined;
  do {
    const page = await listPage(transport, id, path, limit, cursor);
    yield page;
    cursor = page.nextCursor;
  } while (cursor);
}

function listPage(transport: Transport, id: string, path: SandboxPath, limit?: number, cursor?: string) {
  return transport.json<DirectoryListing>("GET", apiPath("filesList", { id }), {
    query: { ...pathQuery(path), limit, cursor },
  });
}

/** Unpacks a tar (or tar.gz) stream into `remoteDir`, which is created; the upload is streamed. */
export function uploadArchive(
  transport: Transport,
  id: string,
  remoteDir: string,
  archive: Readable | Uint8Array | AsyncIterable<Uint8Array>,
): Promise<void> {
  return transport.empty("PUT", apiPath("archive", { id }), { query: { path: remoteDir }, body: archive });
}

/** A tar stream holding `remotePath` (a file or a tree) under its basename. */
export function downloadArchive(
  transport: Transport,
  id: string,
  remotePath: string,
  signal?: AbortSignal,
): Promise<Readable> {
  return transport.stream("GET", apiPath("archive", { id }), { query: { path: remotePath }, signal });
}

/** Copies what is inside `localDir` into `remoteDir` (created if missing). */
export async function uploadDirectory(transport: Transport, id: string, localDir: string, remoteDir: string) {
  // tar is loaded here, not with the module: a program that only runs commands never parses it.
  const { packDirectoryContents } = await import("./archive.js");
  return uploadArchive(transport, id, remoteDir, packDirectoryContents(localDir));
}

/** Copies what is inside the sandbox directory `remotePath` into `localDir` (created if missing). */
export async function downloadDirectory(
  transport: Transport,
  id: string,
  remotePath: string,
  localDir: string,
  options: { onWarning?: (message: string, refused: boolean) => void } = {},
): Promise<void> {
  const { extractSafe } = await import("./archive.js");
  await fsp.mkdir(localDir, { recursive: true });
  const archive = await downloadArchive(transport, id, remotePath);
  await extractSafe(archive, localDir, { strip: 1, ...options });
}
