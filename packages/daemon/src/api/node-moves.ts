// A cluster node's endpoints for moving named sandboxes (a node started with --registry): the
// control plane has the node a sandbox leaves suspend and describe it (POST /node/v1/moves/out),
// and the node it goes to adopt and resume it (POST /node/v1/moves/in). The node's own key only,
// like every call the node serves; not in the public API. See cluster/move-node.ts.
import type { Context } from "hono";
import { SbxError } from "@sbx-sh/protocol";
import type { NodeMoves } from "../cluster/move-node.js";
import { checkMovePayload, MAX_MOVE_BYTES, MOVE_IN_PATH, MOVE_OUT_PATH } from "../cluster/move-spec.js";
import type { Services } from "../services/services.js";
import type { Api, AppEnv } from "./api-types.js";
import { toSandbox } from "./mappers/sandboxes.js";
import { controlPlaneProject } from "./node-auth.js";

async function jsonOf(c: Context<AppEnv>): Promise<unknown> {
  const text = await c.req.text();
  if (text.length > MAX_MOVE_BYTES) throw new SbxError("payload_too_large", "move requests are limited to 1 MiB");
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new SbxError("invalid_argument", "invalid request: send a JSON body");
  }
}

export function registerNodeMoves(app: Api, s: Services, moves: NodeMoves): void {
  const project = (c: Context<AppEnv>): Promise<string> => {
    if (!s.nodeKeys) throw new SbxError("failed_precondition", "this daemon is not a cluster node");
    return controlPlaneProject(c, s, s.nodeKeys);
  };
  app.post(MOVE_OUT_PATH, async (c) => {
    const p = await project(c);
    const body = (await jsonOf(c)) as { sandbox?: unknown };
    if (typeof body?.sandbox !== "string" || body.sandbox.length === 0 || body.sandbox.length > 100)
      throw new SbxError("invalid_argument", "invalid request: sandbox: expected a sandbox id");
    return c.json(await moves.moveOut(p, body.sandbox), 200);
  });
  app.post(MOVE_IN_PATH, async (c) => {
    const p = await project(c);
    return c.json(toSandbox(await moves.moveIn(p, checkMovePayload(await jsonOf(c)))), 200);
  });
}
