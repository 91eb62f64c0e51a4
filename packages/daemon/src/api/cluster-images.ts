// The control plane's node-facing image route (`--role control --registry …`): a node reports the
// image it committed for a build the control plane placed there (POST /cluster/v1/images, the
// node's token, checked by the /cluster/v1 guard in routes/nodes.ts). The control plane records it
// in PostgreSQL under the placement's project and name (cluster/control-images.ts) and only then
// answers, so the node registers the image and reports the build succeeded after the record exists.
// Not in the public API: only node tokens open it.
import { SbxError } from "@sbx-sh/protocol";
import { REPORT_IMAGE_PATH } from "../cluster/image-report.js";
import type { Services } from "../services/services.js";
import type { Api } from "./api-types.js";
import { nodeToken } from "./routes/nodes.js";

export function registerClusterImages(app: Api, s: Services): void {
  app.post(REPORT_IMAGE_PATH, async (c) => {
    const images = s.cluster?.images;
    if (!s.nodes || !images)
      throw new SbxError("failed_precondition", "this control plane has no cluster registry (--registry)");
    const node = await s.nodes.authenticate(nodeToken(c));
    const text = await c.req.text();
    if (text.length > 256 << 10) throw new SbxError("payload_too_large", "image reports are limited to 256 KiB");
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new SbxError("invalid_argument", "invalid image report: send a JSON body");
    }
    const img = await images.record(node.name, body);
    s.log.info(
      { node: node.name, image: `${img.name}:${img.tag}`, ref: img.ref, project: img.project },
      "image recorded",
    );
    return c.json({ ref: img.ref, project: img.project, name: img.name, tag: img.tag }, 200);
  });
}
