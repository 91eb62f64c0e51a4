// One page of a directory listing (F11 of the second security round): a listing is answered a
// page at a time, in byte order of the names, starting after the last name of the previous page,
// so a directory of any size never makes the daemon hold, sort or send more than one page.
import type { FileEntry } from "./types.js";

export interface PageRequest {
  /** Only names after this one (byte order); none = from the first. */
  after?: string;
  /** At most this many entries (1..MAX_PAGE_ENTRIES of domain/directory-pages.ts). */
  limit: number;
}

export interface DirectoryPage {
  entries: FileEntry[];
  /** Whether names come after the last one here. */
  more: boolean;
}

/** Byte order of UTF-8 names: what `sort` and awk's string comparison do in the C locale. */
export function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** The page of an in-memory listing (for runtimes that can hold the whole directory cheaply). */
export function pageOf(all: FileEntry[], page: PageRequest): DirectoryPage {
  const after = page.after;
  const rest = all
    .filter((e) => after === undefined || byteOrder(e.name, after) > 0)
    .sort((a, b) => byteOrder(a.name, b.name));
  return { entries: rest.slice(0, page.limit), more: rest.length > page.limit };
}
