// Files: directory listings of a sandbox's filesystem.
import { z } from "@hono/zod-openapi";

export const FileEntry = z
  .object({
    name: z.string().openapi({ description: "The name as text; bytes that are not UTF-8 show as U+FFFD" }),
    nameBase64: z.string().optional().openapi({
      description: "Only for a name that is not UTF-8: its bytes in base64 (pass the path as pathBase64)",
    }),
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
