// Snapshot list, get and delete on a control plane (with --registry): answered from PostgreSQL's
// content records, project-scoped (cluster/snapshot-catalog.ts), not from the control host's own
// store. A delete also asks the node that took the snapshot to drop its own copy (best effort: its
// records and cache are its own, and sandboxes there that stand on it keep their layers).
import type { Context } from "hono";
import { SbxError } from "@sbx-sh/protocol";
import type { ClusterRouting } from "../cluster/cluster-role.js";
import { forwardHttp } from "../cluster/node-forward.js";
import type { AppEnv } from "./api-types.js";

export const SNAPSHOT_PATH = /^\/v1\/snapshots(?:\/([^/]+))?$/;

export async function clusterSnapshots(
  c: Context<AppEnv>,
  r: ClusterRouting,
  id: string | undefined,
): Promise<Response> {
  const catalog = r.snapshots;
  if (!catalog)
    throw new SbxError(
      "unimplemented",
      "snapshots on a cluster control plane live in the cluster registry: start it and the nodes with --registry host:port",
    );
  const project = c.get("project");
  const method = c.req.method;
  if (id === undefined && method === "GET") return c.json({ snapshots: await catalog.list(project) }, 200);
  if (id !== undefined && method === "GET") return c.json(await catalog.get(project, decodeURIComponent(id)), 200);
  if (id !== undefined && method === "DELETE") {
    const snapshotId = decodeURIComponent(id);
    const { info, node } = await catalog.remove(project, snapshotId);
    const target = node && r.mover ? await r.mover.target(node, project) : null;
    if (target) {
      const path = `/v1/snapshots/${encodeURIComponent(snapshotId)}`;
      await forwardHttp(target, new Request(`http://node${path}`, { method: "DELETE" }), path)
        .then((res) => res.body?.cancel())
        .catch((err: Error) =>
          r.log.warn({ snapshot: snapshotId, node, err: err.message }, "node kept its snapshot copy"),
        );
    }
    return c.json(info, 200);
  }
  throw new SbxError("not_found", `no route ${method} ${c.req.path}: see GET /openapi.json`);
}
