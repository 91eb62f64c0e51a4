// A node daemon's TCP API (`sbxd --role node`) serves only its control plane: a request must carry
// the cluster secret as its bearer token, and names the project the control plane authenticated
// (X-Sbx-Project), which the node creates on first use. Project tokens are not accepted here, so
// a user's token is never usable against a node, and a node is never open.
import { timingSafeEqual, createHash } from "node:crypto";
import type { Context } from "hono";
import { SbxError, isValidName } from "@sbx-sh/protocol";
import type { Services } from "../services/services.js";
import type { AppEnv } from "./api-types.js";

const digest = (s: string): Buffer => createHash("sha256").update(s).digest();

export async function controlPlaneProject(c: Context<AppEnv>, services: Services, secret: string): Promise<string> {
  const m = /^Bearer (\S+)$/i.exec(c.req.header("authorization") ?? "");
  // Compared as digests: constant time whatever the lengths.
  if (!m || !timingSafeEqual(digest(m[1]!), digest(secret))) {
    services.log.warn({ path: c.req.path }, "node API: request without the cluster secret refused");
    throw new SbxError(
      "unauthenticated",
      "this is a cluster node: it serves only its control plane; send requests to the control plane",
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
