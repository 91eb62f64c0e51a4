// Cursors of paginated directory listings: the last name of the page before, base64url-encoded so
// any name travels safely in a query string. Opaque to clients; checked like any other input.
import { SbxError } from "@sbx-sh/protocol";
import { DEFAULT_PAGE_ENTRIES, MAX_PAGE_ENTRIES } from "../domain/directory-pages.js";
import { bytesToName, nameToBytes } from "../runtime/byte-names.js";
import type { PageRequest } from "../runtime/directory-page.js";

const MAX_NAME_BYTES = 4096;

export function encodeCursor(lastName: string): string {
  return nameToBytes(lastName).toString("base64url");
}

/** The page a client asked for, from its `limit` and `cursor` query values (both optional). */
export function pageRequest(limit: number | undefined, cursor: string | undefined): PageRequest {
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_ENTRIES))
    throw new SbxError("invalid_argument", `limit must be a whole number from 1 to ${MAX_PAGE_ENTRIES}, got ${limit}`);
  const page: PageRequest = { limit: limit ?? DEFAULT_PAGE_ENTRIES };
  if (cursor === undefined || cursor === "") return page;
  const name = bytesToName(Buffer.from(cursor, "base64url"));
  if (
    !name ||
    encodeCursor(name) !== cursor ||
    nameToBytes(name).length > MAX_NAME_BYTES ||
    /[/\0]/.test(name) ||
    name === "." ||
    name === ".."
  )
    throw new SbxError(
      "invalid_argument",
      "cursor is not one this API gave out: pass nextCursor from the previous page",
    );
  return { ...page, after: name };
}
