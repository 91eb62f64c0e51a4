// Volume routes: create, list, get, remove (only when no sandbox holds it). Mounting is part of
// sandbox create (`volumes` of CreateSandboxRequest).
import { createRoute, z } from "@hono/zod-openapi";
import { SbxError } from "@sbx-sh/protocol";
import type { Services } from "../../services/services.js";
import type { VolumeService } from "../../services/volume-service.js";
import type { Api } from "../api-types.js";
import { CreateVolumeRequest, ErrorBody, Volume, VolumeList } from "../schemas/index.js";
import { toVolume } from "../mappers/volumes.js";
import { json, jsonBody } from "./common.js";

const VolumeParams = z.object({ name: z.string().min(1).max(63) });

export function registerVolumeRoutes(app: Api, s: Services): void {
  const volumes = (): VolumeService => {
    if (!s.volumes) throw new SbxError("unimplemented", "this daemon keeps no volumes");
    return s.volumes;
  };
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/volumes",
      summary: "Create a volume: a persistent directory with a size cap, mounted by sandboxes at create",
      request: jsonBody(CreateVolumeRequest),
      responses: {
        201: json(Volume, "the volume"),
        400: json(ErrorBody, "bad name or size"),
        409: json(ErrorBody, "name taken"),
      },
    }),
    async (c) => {
      const b = c.req.valid("json");
      return c.json(toVolume(await volumes().create(c.get("project"), b.name, b.sizeMb)), 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/volumes",
      summary: "List the project's volumes with their usage and the sandboxes holding them",
      responses: { 200: json(VolumeList, "volumes") },
    }),
    async (c) => c.json({ volumes: (await volumes().list(c.get("project"))).map(toVolume) }, 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/volumes/{name}",
      summary: "Get a volume",
      request: { params: VolumeParams },
      responses: { 200: json(Volume, "volume"), 404: json(ErrorBody, "unknown") },
    }),
    async (c) => c.json(toVolume(await volumes().get(c.get("project"), c.req.valid("param").name)), 200),
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/volumes/{name}",
      summary: "Remove a volume and its files; refused while a sandbox (running or suspended) holds it",
      request: { params: VolumeParams },
      responses: {
        200: json(Volume, "removed"),
        404: json(ErrorBody, "unknown"),
        409: json(ErrorBody, "mounted"),
      },
    }),
    async (c) => c.json(toVolume(await volumes().remove(c.get("project"), c.req.valid("param").name)), 200),
  );
}
