// Files: directory listings of a sandbox's filesystem.
import { z } from "@hono/zod-openapi";

export const FileEntry = z
  .object({
    name: z.string(),
    type: z.enum(["file", "directory", "symlink", "other"]),
    size: z.number(),
    mode: z.number(),
    modifiedAt: z.string(),
  })
  .openapi("FileEntry");

export const DirectoryListing = z
  .object({
    path: z.string(),
    entries: z.array(FileEntry),
    /** Present when more entries follow: pass it as `cursor` for the next page. */
    nextCursor: z.string().optional(),
  })
  .openapi("DirectoryListing");

export type FileEntryT = z.infer<typeof FileEntry>;
