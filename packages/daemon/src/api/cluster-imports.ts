// The control plane's routing of OCI imports and registry pulls (`--role control --registry …`):
// like a build (api/cluster-builds.ts), an import or pull is placed on a node and recorded with an
// id the control plane draws under the image name and tag it will have (api/cluster-jobs.ts), and
// forwarded there, its archive streamed to the node and the node's answer (NDJSON progress with
// ?progress=1) streamed back. The node unpacks it, pushes it to the cluster registry and has the
// control plane record it in PostgreSQL before registering it.
import type { Context } from "hono";
import { SbxError, assertValidName } from "@sbx-sh/protocol";
import type { ClusterRouting } from "../cluster/cluster-role.js";
import type { ControlImages } from "../cluster/control-images.js";
import { forwardHttp } from "../cluster/node-forward.js";
import { parseRegistryRef } from "../oci/registry-ref.js";
import type { AppEnv } from "./api-types.js";
import { MAX_JSON_BYTES } from "./body-limits.js";
import { readCreateBody } from "./cluster-calls.js";
import { placeJob } from "./cluster-jobs.js";

const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

function checkTag(tag: string): string {
  if (!TAG.test(tag))
    throw new SbxError("invalid_name", `invalid tag ${JSON.stringify(tag)}: letters, digits, '_', '.', '-'`);
  return tag;
}

/** POST /v1/images/import or /v1/images/pull on a node chosen by placement. */
export async function importOnNode(c: Context<AppEnv>, r: ClusterRouting, images: ControlImages): Promise<Response> {
  const url = new URL(c.req.url);
  let name: string;
  let tag: string;
  let replace: boolean;
  let body: Uint8Array | undefined;
  if (c.req.path === "/v1/images/import") {
    name = assertValidName("image", url.searchParams.get("name") ?? "");
    tag = checkTag(url.searchParams.get("tag") || "latest");
    replace = ["1", "true"].includes(url.searchParams.get("replace") ?? "");
  } else {
    const read = await readCreateBody(c, MAX_JSON_BYTES);
    const b = read.body;
    if (typeof b.reference !== "string")
      throw new SbxError("invalid_argument", "invalid request: reference: expected a string");
    const ref = parseRegistryRef(b.reference);
    name = assertValidName("image", typeof b.name === "string" ? b.name : ref.repository.split("/").at(-1)!);
    tag = checkTag(typeof b.tag === "string" ? b.tag : (ref.tag ?? "latest"));
    replace = b.replace === true;
    body = read.raw;
  }
  const project = c.get("project");
  const job = { project, imageName: name, tag, replace, layers: [], selector: {} };
  return placeJob(r, images, job, async (target, at) => {
    // The archive streams from the caller to the node, never held here.
    const res = await forwardHttp(target, c.req.raw, `${c.req.path}${url.search}`, body ? { body } : {});
    if (res.ok) r.log.info({ job: at.id, node: at.node, image: `${name}:${tag}` }, "image import placed");
    return { response: res, accepted: res.ok };
  });
}
