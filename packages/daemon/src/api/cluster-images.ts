// The control plane's node-facing image route (`--role control --registry …`): a node reports the
// image it committed for a build the control plane placed there (POST /cluster/v1/images, the
// node's token, checked by the /cluster/v1 guard in routes/nodes.ts: any other credential is 401,
// and a daemon that is not a control plane knows no node token). The control plane records it in
// PostgreSQL under the placement's project and name (cluster/control-images.ts) and only then
// answers, so the node registers the image and reports the build succeeded after the record exists.
import { createRoute, z } from "@hono/zod-openapi";
import { SbxError } from "@sbx-sh/protocol";
import { REPORT_IMAGE_PATH } from "../cluster/image-report.js";
import type { Services } from "../services/services.js";
import type { Api } from "./api-types.js";
import { nodeToken } from "./routes/nodes.js";
import { json, jsonBody } from "./routes/common.js";
import { ErrorBody } from "./schemas/index.js";

// Shape only: every field is checked again, bounded, by checkImageReport (a node is not trusted).
const ImageReport = z
  .object({
    build: z.string().max(64),
    manifest: z.string().max(80),
    image: z.object({ ref: z.string().max(64), id: z.string().max(80) }).passthrough(),
  })
  .openapi("ClusterImageReport");
const Recorded = z
  .object({ ref: z.string(), project: z.string(), name: z.string(), tag: z.string() })
  .openapi("ClusterImageRecorded");

export function registerClusterImages(app: Api, s: Services): void {
  app.openapi(
    createRoute({
      method: "post",
      path: REPORT_IMAGE_PATH,
      summary: "A node reports the image it committed to the cluster registry for a build placed on it (node token)",
      request: jsonBody(ImageReport),
      responses: {
        200: json(Recorded, "recorded under the build's project and name"),
        401: json(ErrorBody, "unknown or revoked node token"),
        404: json(ErrorBody, "no such build placed on this node"),
      },
    }),
    async (c) => {
      const images = s.cluster?.images;
      if (!s.nodes || !images)
        throw new SbxError("failed_precondition", "this control plane has no cluster registry (--registry)");
      const node = await s.nodes.authenticate(nodeToken(c));
      const img = await images.record(node.name, c.req.valid("json"));
      s.log.info(
        { node: node.name, image: `${img.name}:${img.tag}`, ref: img.ref, project: img.project },
        "image recorded",
      );
      return c.json({ ref: img.ref, project: img.project, name: img.name, tag: img.tag }, 200);
    },
  );
}
