// Image routes: build contexts (content-addressed uploads), builds and their event streams, and
// the project's images (list, inspect, remove).
import { createRoute, z } from "@hono/zod-openapi";
import { SbxError } from "@sbx-sh/protocol";
import { TarCheck } from "../../services/tar-check.js";
import { bodyStream } from "../body-limits.js";
import type { Services } from "../../services/services.js";
import type { Api } from "../api-types.js";
import { placedJob } from "../placed-job.js";
import { Build, BuildEvent, CreateBuildRequest, ErrorBody, ImageDetail, ImageList } from "../schemas/index.js";
import { toBuild, toBuildEvent, toImage, toImageEntry } from "../mappers/images.js";
import { json, jsonBody, mapEach, ndjson } from "./common.js";

const DigestParams = z.object({ digest: z.string().regex(/^sha256:[0-9a-f]{64}$/, "a digest is sha256:<64 hex>") });
const BuildParams = z.object({ id: z.string().min(1).max(64) });
const ImageParams = z.object({ name: z.string().min(1).max(200) });

export function registerImageRoutes(app: Api, s: Services): void {
  // Hono answers HEAD with the GET route (without the body): clients ask HEAD before uploading.
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/contexts/{digest}",
      summary: "Whether this project uploaded this context tar (HEAD works too)",
      request: { params: DigestParams },
      responses: {
        200: json(z.object({ digest: z.string(), sizeBytes: z.number() }), "present"),
        404: json(ErrorBody, "not uploaded"),
      },
    }),
    async (c) => {
      const { digest } = c.req.valid("param");
      const info = await s.contexts.stat(c.get("project"), digest);
      if (!info)
        throw new SbxError("not_found", `context ${digest} was not uploaded: PUT it to /v1/contexts/${digest}`);
      return c.json({ digest: info.digest, sizeBytes: info.size }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "put",
      path: "/v1/contexts/{digest}",
      summary: "Upload the files of a copy/add step (a tar whose sha256 is the digest)",
      request: {
        params: DigestParams,
        body: { content: { "application/x-tar": { schema: z.string().openapi({ format: "binary" }) } } },
      },
      responses: {
        201: json(z.object({ digest: z.string(), sizeBytes: z.number() }), "stored"),
        400: json(ErrorBody, "not a tar, or the digest does not match"),
      },
    }),
    async (c) => {
      const { digest } = c.req.valid("param");
      // Streamed to disk through the tar check, never held whole: the upload cap counts it as it comes.
      const check = new TarCheck();
      const body = bodyStream(c.req.raw);
      body.on("error", (err) => check.destroy(err));
      body.pipe(check);
      const stored = await s.contexts.put(c.get("project"), check, { expect: digest }).catch((err: unknown) => {
        if (err instanceof SbxError && err.code !== "invalid_argument") throw err;
        throw new SbxError(
          "invalid_archive",
          `the upload does not match ${digest}: ${err instanceof Error ? err.message : String(err)}`,
          undefined,
          { cause: err },
        );
      });
      return c.json({ digest: stored.digest, sizeBytes: stored.size }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/builds",
      summary: "Build an image from its step IR",
      request: jsonBody(CreateBuildRequest),
      responses: { 201: json(Build, "started"), 409: json(ErrorBody, "name taken") },
    }),
    async (c) => {
      const { placement, ...req } = c.req.valid("json");
      // Reached only off a control plane (it routes builds to nodes and strips the placement).
      if (Object.keys(placement?.nodeSelector ?? {}).length > 0)
        throw new SbxError(
          "failed_precondition",
          "placement.nodeSelector picks a node of a cluster: this daemon is not a cluster control plane (sbxd --role control)",
        );
      return c.json(toBuild(await s.builds.create(c.get("project"), req, placedJob(c, s))), 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/builds",
      summary: "List builds, newest first",
      responses: { 200: json(z.object({ builds: z.array(Build) }), "builds") },
    }),
    async (c) => c.json({ builds: (await s.builds.list(c.get("project"))).map(toBuild) }, 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/builds/{id}",
      summary: "Get a build",
      request: { params: BuildParams },
      responses: { 200: json(Build, "build"), 404: json(ErrorBody, "unknown") },
    }),
    async (c) => c.json(toBuild(await s.builds.get(c.get("project"), c.req.valid("param").id)), 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/builds/{id}/events",
      summary: "The build's events from its start; with follow=1 until it is done",
      request: { params: BuildParams, query: z.object({ follow: z.enum(["0", "1", "true", "false"]).optional() }) },
      responses: {
        200: { content: { "application/x-ndjson": { schema: BuildEvent } }, description: "events" },
        404: json(ErrorBody, "unknown"),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const project = c.get("project");
      await s.builds.get(project, id);
      const abort = new AbortController();
      const follow = ["1", "true"].includes(c.req.valid("query").follow ?? "");
      return ndjson(mapEach(s.builds.events(project, id, follow, abort.signal), toBuildEvent), abort) as never;
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/builds/{id}",
      summary: "Cancel a build",
      request: { params: BuildParams },
      responses: { 200: json(Build, "build") },
    }),
    async (c) => c.json(toBuild(await s.builds.cancel(c.get("project"), c.req.valid("param").id)), 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/images",
      summary: "List base images and the project's images",
      responses: { 200: json(ImageList, "images") },
    }),
    async (c) =>
      c.json({ images: (await s.images.list(c.get("project"))).map(toImageEntry), bases: s.images.baseStates() }, 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/images/{name}",
      summary: "Inspect an image (name or name:tag)",
      request: { params: ImageParams },
      responses: { 200: json(ImageDetail, "image"), 404: json(ErrorBody, "unknown") },
    }),
    async (c) => c.json(toImageEntry(await s.images.inspect(c.get("project"), c.req.valid("param").name)), 200),
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/images/{name}",
      summary: "Remove an image; running sandboxes keep working",
      request: { params: ImageParams },
      responses: { 200: json(ImageDetail, "removed"), 404: json(ErrorBody, "unknown") },
    }),
    async (c) => {
      const removed = await s.images.remove(c.get("project"), c.req.valid("param").name);
      await s.gc.collect();
      return c.json(toImage(removed), 200);
    },
  );
}
