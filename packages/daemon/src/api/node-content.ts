// A cluster node's content endpoints (a node started with --registry): the control plane has it
// pull a snapshot or an image it lacks (POST /node/v1/content/snapshots, …/images, the node's own key only, like every
// call the node serves), and the node's answer to a snapshot names the manifest it committed to the
// registry (x-sbx-content-manifest), which the control plane records. Not in the public API.
import type { MiddlewareHandler } from "hono";
import { SbxError, assertValidName, assertValidTag } from "@sbx-sh/protocol";
import type { NodeContent } from "../cluster/content-node.js";
import { FETCH_IMAGE_PATH, FETCH_PATH, MANIFEST_HEADER } from "../cluster/content-control.js";
import { DIGEST, IMAGE_REF } from "../cluster/content-image.js";
import type { Services } from "../services/services.js";
import type { Api, AppEnv } from "./api-types.js";
import { controlPlaneProject } from "./node-auth.js";

const SNAPSHOT_CALL = /^\/v1\/sandboxes\/[^/]+\/snapshot$/;

/** Adds the committed manifest's digest to a snapshot's answer. */
export function manifestHeader(content: NodeContent): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    await next();
    if (c.req.method !== "POST" || !SNAPSHOT_CALL.test(c.req.path) || c.res.status !== 201) return;
    const id = ((await c.res.clone().json()) as { id?: unknown }).id;
    const manifest = typeof id === "string" ? content.publisher.manifestOf(id) : undefined;
    if (manifest) c.res.headers.set(MANIFEST_HEADER, manifest);
  };
}

/** Registered before the other routes: the header is added to the snapshot route's answer. */
export function registerNodeContent(app: Api, s: Services, content: NodeContent): void {
  app.use("/v1/sandboxes/*", manifestHeader(content));
  app.post(FETCH_PATH, async (c) => {
    if (!s.nodeKeys) throw new SbxError("failed_precondition", "this daemon is not a cluster node");
    const project = await controlPlaneProject(c, s, s.nodeKeys);
    const text = await c.req.text();
    if (text.length > 4096) throw new SbxError("payload_too_large", "content requests are limited to 4 KiB");
    let body: { id?: unknown; manifest?: unknown };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new SbxError("invalid_argument", "invalid request: send a JSON body");
    }
    if (typeof body.id !== "string" || !/^[A-Za-z0-9_-]{1,100}$/.test(body.id))
      throw new SbxError("invalid_argument", "invalid request: id: expected a snapshot id");
    if (typeof body.manifest !== "string" || !/^sha256:[0-9a-f]{64}$/.test(body.manifest))
      throw new SbxError("invalid_argument", "invalid request: manifest: expected a sha256 digest");
    const snap = await content.fetcher.fetchSnapshot(project, body.id, body.manifest);
    return c.json({ id: snap.id, layers: snap.layers.length, sizeBytes: snap.sizeBytes }, 200);
  });
  app.post(FETCH_IMAGE_PATH, async (c) => {
    if (!s.nodeKeys) throw new SbxError("failed_precondition", "this daemon is not a cluster node");
    const project = await controlPlaneProject(c, s, s.nodeKeys);
    const body = await smallJson(c.req.raw);
    if (typeof body.ref !== "string" || !IMAGE_REF.test(body.ref))
      throw new SbxError("invalid_argument", "invalid request: ref: expected an image ref");
    if (typeof body.manifest !== "string" || !DIGEST.test(body.manifest))
      throw new SbxError("invalid_argument", "invalid request: manifest: expected a sha256 digest");
    if (typeof body.name !== "string" || typeof body.tag !== "string")
      throw new SbxError("invalid_argument", "invalid request: name, tag: expected the image's name and tag");
    const want = { name: assertValidName("image", body.name), tag: assertValidTag(body.tag) };
    const img = await content.fetcher.fetchImage(project, body.ref, body.manifest, want);
    return c.json({ ref: img.ref, name: img.name, tag: img.tag, layers: img.layers.length }, 200);
  });
}

/** A content request's JSON body: small, an object. */
async function smallJson(req: Request): Promise<Record<string, unknown>> {
  const text = await req.text();
  if (text.length > 4096) throw new SbxError("payload_too_large", "content requests are limited to 4 KiB");
  try {
    const body = JSON.parse(text) as unknown;
    if (typeof body === "object" && body !== null && !Array.isArray(body)) return body as Record<string, unknown>;
  } catch {
    // Said below, as for any body that is not an object.
  }
  throw new SbxError("invalid_argument", "invalid request: send a JSON object");
}
