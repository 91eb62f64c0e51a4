// The control plane's one way to run an image job (a build, an OCI import, a registry pull) on a
// node: placed like a sandbox of the default size (same placement transaction), recorded under an
// id the control plane draws with the node and the image it will commit (cluster/build-directory.ts),
// then handed to `send` with the node's target (the id in its header). The placement's room is
// freed once the node has answered, since a job holds no sandbox after; the record stays only if
// the node accepted the job. Used by api/cluster-builds.ts and api/cluster-imports.ts.
import { newId } from "@sbx-sh/protocol";
import type { ClusterRouting } from "../cluster/cluster-role.js";
import type { ControlImages } from "../cluster/control-images.js";
import { BUILD_ID_HEADER } from "../cluster/content-control.js";
import type { NodeTarget } from "../cluster/node-target.js";
import type { PlacementRequest } from "../cluster/placement.js";
import { LIMITS } from "../domain/limits.js";
import { targetOf } from "./cluster-calls.js";

export interface ImageJob {
  project: string;
  /** The image name and tag the job commits. */
  imageName: string;
  tag: string;
  replace: boolean;
  /** The base image's layers: nodes that cache them are preferred. */
  layers: PlacementRequest["layers"];
  selector: PlacementRequest["selector"];
}

/** What `send` answers: the response for the caller, and whether the node took the job. */
export interface JobSent {
  response: Response;
  accepted: boolean;
}

export async function placeJob(
  r: ClusterRouting,
  images: ControlImages,
  job: ImageJob,
  send: (target: NodeTarget, placed: { id: string; node: string }) => Promise<JobSent>,
): Promise<Response> {
  const { project } = job;
  const id = newId("bld");
  await r.placer.place({
    sandboxId: id,
    project,
    name: null,
    cpus: LIMITS.cpus.default,
    memoryMb: LIMITS.memoryMb.default,
    layers: job.layers,
    selector: job.selector,
  });
  let accepted = false;
  try {
    const at = await r.directory.locate(project, id);
    await images.builds.add({
      id,
      project,
      node: at.node,
      imageName: job.imageName,
      tag: job.tag,
      replace: job.replace,
    });
    const sent = await send(targetOf(r, at, project, { [BUILD_ID_HEADER]: id }), { id, node: at.node });
    accepted = sent.accepted;
    return sent.response;
  } finally {
    await r.placer.release(id);
    if (!accepted) await images.builds.remove(id);
  }
}
