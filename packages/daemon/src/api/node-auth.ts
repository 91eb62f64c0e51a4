// A node daemon's TCP API (`sbxd --role node`) serves only its control plane: a request must carry
// this node's own key as its bearer token (handed to it by the control plane, cluster/node-key.ts;
// another node's key is refused), and names the project the control plane authenticated
// (X-Sbx-Project), which the node creates on first use. Project tokens are not accepted here, so a
// user's token is never usable against a node, and a node is never open: before it has registered
// (or once its control plane refused it) no key is accepted at all.
import type { Context } from "hono";
import { SbxError, isValidName } from "@sbx-sh/protocol";
import type { NodeKeys } from "../cluster/node-key.js";
import type { Services } from "../services/services.js";
import type { AppEnv } from "./api-types.js";

export async function controlPlaneProject(c: Context<AppEnv>, services: Services, keys: NodeKeys): Promise<string> {
  const m = /^Bearer (\S+)$/i.exec(c.req.header("authorization") ?? "");
  if (!m || !keys.matches(m[1]!)) {
    services.log.warn(
      { path: c.req.path, registered: keys.known },
      "node API: request without this node's key refused",
    );
    throw new SbxError(
      "unauthenticated",
      keys.known
        ? "this is a cluster node: it serves only its control plane, with this node's key; send requests to the control plane"
        : "this is a cluster node: it serves only its control plane, and has no key from it yet (not registered, or refused); send requests to the control plane",
    );
  }
  const name = c.req.header("x-sbx-project") ?? "default";
  if (!isValidName(name)) throw new SbxError("invalid_name", `invalid project name ${JSON.stringify(name)}`);
  await services.projects.require(name).catch(async (err: unknown) => {
    if (!(err instanceof SbxError) || err.code !== "project_not_found") throw err;
    // Another request may have created it meanwhile.
    await services.projects.create(name).catch(() => services.projects.require(name));
  });
  return name;
}
