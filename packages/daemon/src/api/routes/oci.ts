// OCI routes: an image as an OCI layout tar (export), a layout or docker-archive tar in (import),
// and push/pull against a registry over the OCI distribution API (run by the daemon).
import { createRoute, z } from "@hono/zod-openapi";
import { Readable } from "node:stream";
import { PATCHED_TAR_MEDIA } from "@sbx-sh/protocol";
import type { Services } from "../../services/services.js";
import type { Api } from "../api-types.js";
import { placedJob } from "../placed-job.js";
import { ErrorBody, ImageDetail } from "../schemas/index.js";
import { toImage } from "../mappers/images.js";
import { json, jsonBody } from "./common.js";
import { outgoingOf } from "../ndjson-out.js";
import { webBody } from "./web-body.js";
import { ProgressQuery, RegistryProgressEvent, progressAnswer, wantsProgress } from "./registry-progress.js";

const ImageParams = z.object({ name: z.string().min(1).max(200) });
const ExportQuery = z.object({
  form: z.enum(["tar", "patched"]).optional().openapi({
    description: "patched: for a client writing into a file; the tar's bytes framed so a header can follow its data",
  }),
});
const tar = (description: string) => ({
  content: { "application/x-tar": { schema: z.string().openapi({ format: "binary" }) } },
  description,
});
const Auth = {
  insecure: z.boolean().optional().openapi({ description: "plain HTTP to a registry that is not on loopback" }),
  username: z.string().max(512).optional(),
  password: z.string().max(4096).optional(),
  token: z.string().max(16384).optional().openapi({ description: "a bearer token, used as is" }),
};
const PushRequest = z
  .object({ reference: z.string().min(1).max(512).openapi({ example: "localhost:5000/team/web:2" }), ...Auth })
  .openapi("PushImageRequest");
const PushResult = z
  .object({ reference: z.string(), digest: z.string(), blobsSent: z.number(), blobsSkipped: z.number() })
  .openapi("PushImageResult");
const PullRequest = z
  .object({
    reference: z.string().min(1).max(512),
    name: z.string().max(200).optional(),
    tag: z.string().max(128).optional(),
    replace: z.boolean().optional(),
    ...Auth,
  })
  .openapi("PullImageRequest");
const PullResult = z
  .object({ image: ImageDetail, layersFetched: z.number(), layersReused: z.number() })
  .openapi("PullImageResult");

export function registerOciRoutes(app: Api, s: Services): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/images/{name}/oci",
      summary: "Export an image as an OCI image layout (tar)",
      request: { params: ImageParams, query: ExportQuery },
      responses: {
        200: {
          content: {
            "application/x-tar": { schema: z.string().openapi({ format: "binary" }) },
            [PATCHED_TAR_MEDIA]: { schema: z.string().openapi({ format: "binary" }) },
          },
          description:
            "OCI image layout tar; with ?form=patched, the same tar as patched-tar records (a layer " +
            "streams as it is compressed, its tar header after it; see @sbx-sh/protocol patched-tar.ts)",
        },
        404: json(ErrorBody, "unknown"),
      },
    }),
    async (c) => {
      const form = c.req.valid("query").form ?? "tar";
      const stream = await s.oci.exportStream(c.get("project"), c.req.valid("param").name, c.req.raw.signal, form);
      return new Response(webBody(stream, outgoingOf(c)), {
        status: 200,
        headers: { "content-type": form === "patched" ? PATCHED_TAR_MEDIA : "application/x-tar" },
      }) as never;
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/images/import",
      summary: "Import an OCI image layout or docker-archive tar as a project image",
      request: {
        query: z.object({
          name: z.string().min(1).max(200),
          tag: z.string().max(128).optional(),
          replace: z.enum(["0", "1", "true", "false"]).optional(),
        }),
        body: { ...tar("the archive"), required: true },
      },
      responses: {
        201: json(ImageDetail, "registered"),
        400: json(ErrorBody, "bad archive"),
        409: json(ErrorBody, "name taken"),
      },
    }),
    async (c) => {
      const q = c.req.valid("query");
      const raw = c.req.raw.body;
      const body = raw ? Readable.fromWeb(raw as never) : Readable.from([]);
      const image = await s.oci.importArchive(
        c.get("project"),
        body,
        { name: q.name, tag: q.tag, replace: ["1", "true"].includes(q.replace ?? "") },
        placedJob(c, s),
      );
      return c.json(toImage(image), 201);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/images/{name}/push",
      summary: "Push an image to a registry",
      request: { params: ImageParams, query: ProgressQuery, ...jsonBody(PushRequest) },
      responses: {
        200: {
          content: {
            "application/json": { schema: PushResult },
            "application/x-ndjson": { schema: RegistryProgressEvent },
          },
          description: "pushed (NDJSON progress events, then the result, with ?progress=1)",
        },
      },
    }),
    async (c) => {
      const { reference, ...auth } = c.req.valid("json");
      const push = (on?: Parameters<typeof s.oci.push>[4]) =>
        s.oci.push(c.get("project"), c.req.valid("param").name, reference, auth, on);
      if (wantsProgress(c.req.valid("query"))) return progressAnswer(push) as never;
      return c.json(await push(), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/images/pull",
      summary: "Pull an image from a registry into the project",
      request: { query: ProgressQuery, ...jsonBody(PullRequest) },
      responses: {
        200: {
          content: { "application/x-ndjson": { schema: RegistryProgressEvent } },
          description: "with ?progress=1: NDJSON progress events, then the result",
        },
        201: json(PullResult, "pulled"),
      },
    }),
    async (c) => {
      const { reference, name, tag, replace, ...auth } = c.req.valid("json");
      const placed = placedJob(c, s);
      const pull = async (on?: Parameters<typeof s.oci.pull>[4]) => {
        const r = await s.oci.pull(c.get("project"), reference, { name, tag, replace }, auth, on, placed);
        return { image: toImage(r.image), layersFetched: r.fetched, layersReused: r.skipped };
      };
      if (wantsProgress(c.req.valid("query"))) return progressAnswer(pull) as never;
      return c.json(await pull(), 201);
    },
  );
}
