// File routes: read, write, list, delete single paths, and tar archives in and out.
import { createRoute, z } from "@hono/zod-openapi";
import type { Services } from "../../services/services.js";
import type { Api } from "../api-types.js";
import { DirectoryListing, ErrorBody } from "../schemas/index.js";
import { toFileEntry } from "../mappers/files.js";
import { bodyStream } from "../body-limits.js";
import { json } from "./common.js";
import { DEFAULT_PAGE_ENTRIES, MAX_PAGE_ENTRIES } from "../../domain/directory-pages.js";
import { SandboxParams } from "./sandboxes.js";
import { outgoingOf } from "../ndjson-out.js";
import { webBody } from "./web-body.js";
import { whileCallerStays } from "../caller-signal.js";
import { fileAnswer } from "../file-answer.js";
import { PathQuery, pathOf } from "../path-query.js";
import { wireName } from "../../runtime/byte-names.js";

const ListQuery = PathQuery.extend({
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(MAX_PAGE_ENTRIES)
    .optional()
    .openapi({ description: `Entries per page (default ${DEFAULT_PAGE_ENTRIES})`, example: 1000 }),
  cursor: z.string().max(8192).optional().openapi({ description: "nextCursor of the previous page" }),
});
const binary = (description: string) => ({
  content: { "application/octet-stream": { schema: z.string().openapi({ format: "binary" }) } },
  description,
});

export function registerFileRoutes(app: Api, s: Services): void {
  // Upload caps are the app's (api/body-limits.ts), counted as the body streams in: writes and
  // archive uploads stream the body on to the sandbox, never holding it whole.
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/sandboxes/{id}/files",
      summary: "Read a file",
      request: { params: SandboxParams, query: PathQuery },
      responses: {
        200: binary("the file's bytes, streamed (Content-Length when its size is known up front)"),
        404: json(ErrorBody, "no such file"),
      },
    }),
    // Streamed (../file-answer.ts); at most MAX_READS_PER_PROJECT at once (api/project-slots.ts, in
    // app.ts); a caller that leaves stops the read.
    (c) =>
      whileCallerStays(c, async (signal) => {
        const content = await s.files.read(
          c.get("project"),
          c.req.valid("param").id,
          pathOf(c.req.valid("query")),
          signal,
        );
        return fileAnswer(c, content);
      }) as never,
  );

  app.openapi(
    createRoute({
      method: "put",
      path: "/v1/sandboxes/{id}/files",
      summary: "Write a file, creating parent directories",
      request: { params: SandboxParams, query: PathQuery, body: binary("content") },
      responses: { 204: { description: "written" } },
    }),
    async (c) => {
      await s.files.write(
        c.get("project"),
        c.req.valid("param").id,
        pathOf(c.req.valid("query")),
        bodyStream(c.req.raw),
      );
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/sandboxes/{id}/files",
      summary: "Delete a file (or a directory with recursive=1)",
      request: {
        params: SandboxParams,
        query: PathQuery.extend({ recursive: z.enum(["0", "1", "true", "false"]).optional() }),
      },
      responses: { 204: { description: "deleted" }, 404: json(ErrorBody, "no such file") },
    }),
    async (c) => {
      const q = c.req.valid("query");
      await s.files.remove(
        c.get("project"),
        c.req.valid("param").id,
        pathOf(q),
        ["1", "true"].includes(q.recursive ?? ""),
      );
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/sandboxes/{id}/files/list",
      summary: "List a directory, a page at a time (names in byte order; follow nextCursor)",
      request: { params: SandboxParams, query: ListQuery },
      responses: { 200: json(DirectoryListing, "entries") },
    }),
    async (c) => {
      const q = c.req.valid("query");
      const dir = pathOf(q);
      const page = await s.files.list(c.get("project"), c.req.valid("param").id, dir, q);
      const entries = page.entries.map(toFileEntry);
      const path = wireName(dir).name;
      return c.json(page.nextCursor ? { path, entries, nextCursor: page.nextCursor } : { path, entries }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "put",
      path: "/v1/sandboxes/{id}/archive",
      summary: "Upload a tar (or tar.gz) and unpack it into a directory, inside the sandbox",
      request: { params: SandboxParams, query: PathQuery, body: binary("tar archive") },
      responses: { 200: json(z.object({ entries: z.number() }), "unpacked"), 400: json(ErrorBody, "not a tar") },
    }),
    async (c) => {
      const r = await s.files.upload(
        c.get("project"),
        c.req.valid("param").id,
        pathOf(c.req.valid("query")),
        bodyStream(c.req.raw),
      );
      return c.json(r, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/sandboxes/{id}/archive",
      summary: "Download a file or directory tree as a tar stream",
      request: { params: SandboxParams, query: PathQuery },
      responses: {
        200: {
          content: { "application/x-tar": { schema: z.string().openapi({ format: "binary" }) } },
          description: "tar",
        },
        404: json(ErrorBody, "no such path"),
      },
    }),
    async (c) => {
      const stream = await s.files.download(c.get("project"), c.req.valid("param").id, pathOf(c.req.valid("query")));
      // Not copied on the way; a client that leaves cancels the body, which stops the tar.
      return new Response(webBody(stream, outgoingOf(c)), {
        status: 200,
        headers: { "content-type": "application/x-tar" },
      }) as never;
    },
  );
}
