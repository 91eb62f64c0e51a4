// The `path` of a file route's query: as text (`path`), or as its bytes in base64 (`pathBase64`)
// for a name that is not UTF-8, as listings give it (`nameBase64`). One of the two, never both.
import { z } from "@hono/zod-openapi";
import { SbxError } from "@sbx-sh/protocol";
import { bytesToName } from "../runtime/byte-names.js";

export const PathQuery = z.object({
  path: z.string().min(1).optional().openapi({ example: "/work/notes.txt" }),
  pathBase64: z
    .string()
    .min(1)
    .max(8192)
    .optional()
    .openapi({ description: "The path's bytes in base64, instead of `path`: for names that are not UTF-8" }),
});

/** The path the query names (a name that is not UTF-8 in the daemon's form, ../runtime/byte-names.ts). */
export function pathOf(q: { path?: string | undefined; pathBase64?: string | undefined }): string {
  if ((q.path === undefined) === (q.pathBase64 === undefined))
    throw new SbxError(
      "invalid_argument",
      "give the path as `path`, or as `pathBase64` (its bytes, for a name that is not UTF-8): one of them",
    );
  if (q.path !== undefined) return q.path;
  const b64 = q.pathBase64!;
  const bytes = Buffer.from(b64, "base64");
  if (bytes.length === 0 || bytes.toString("base64") !== b64)
    throw new SbxError("invalid_argument", "pathBase64 is not base64 (standard alphabet, with padding)");
  return bytesToName(bytes);
}
