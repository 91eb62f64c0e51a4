// On a cluster node, the id its control plane drew for a build, import or pull it placed here
// (x-sbx-build-id, api/cluster-builds.ts): only over the node's TCP API, which only its control
// plane can call (node-auth.ts). Such a job is committed to the cluster before it is registered.
import type { Context } from "hono";
import { SbxError } from "@sbx-sh/protocol";
import { BUILD_ID, BUILD_ID_HEADER } from "../cluster/content-control.js";
import type { Services } from "../services/services.js";
import type { AppEnv } from "./api-types.js";

export function placedJob(c: Context<AppEnv>, s: Services): { id: string } | undefined {
  const id = s.nodeKeys && c.get("transport") === "tcp" ? c.req.header(BUILD_ID_HEADER) : undefined;
  if (id === undefined) return undefined;
  if (!BUILD_ID.test(id)) throw new SbxError("invalid_argument", `invalid ${BUILD_ID_HEADER}: expected a build id`);
  return { id };
}
