// The Tensorlake template-build routes (prepare, complete, status) over TlImageBuilds
// (./image-builds.ts) and the stored build records (services/template-builds.ts).
import type { Context } from "hono";
import { z } from "zod";
import { SbxError } from "@sbx-sh/protocol";
import type { TemplateBuilds } from "../../services/template-builds.js";
import type { Api, AppEnv } from "../api-types.js";
import { parse, readJson } from "./common.js";
import { BUILDER_IMAGE, type TlImageBuilds } from "./image-builds.js";
import { toTemplate } from "./templates.js";

const PREFIX = "/platform/v1/organizations/:org/projects/:proj/sandbox-template-builds";

const PrepareBody = z.object({
  name: z.string().min(1),
  dockerfile: z.string().optional().nullable(),
});

export function registerTlImageBuilds(
  app: Api,
  builds: TlImageBuilds,
  templates: TemplateBuilds,
  scope: (c: Context<AppEnv>) => string,
): void {
  app.post(PREFIX, async (c) => {
    const project = scope(c);
    const body = parse(PrepareBody, await readJson(c));
    if (!body.dockerfile)
      throw new SbxError(
        "unimplemented",
        "importing a registry image through the Tensorlake SDK is not served: pull it with `sbx image pull`",
      );
    const p = await builds.prepare(project, body.name, body.dockerfile);
    return c.json(
      {
        buildId: p.buildId,
        snapshotId: p.buildId,
        rootfsNodeKind: "base",
        builder: { image: BUILDER_IMAGE, command: "tl-rootfs-build", cpus: 1, memoryMb: 1024, diskMb: 2048 },
      },
      200,
    );
  });

  app.post(`${PREFIX}/:buildId/complete`, async (c) => {
    const image = await builds.result(scope(c), c.req.param("buildId") ?? "");
    return c.json(toTemplate(image), 200);
  });

  // Not called by the 0.5.89 SDK: a build's state for whoever polls it, kept across daemon restarts.
  app.get(`${PREFIX}/:buildId`, async (c) => {
    const rec = await templates.get(scope(c), c.req.param("buildId") ?? "");
    return c.json(
      {
        buildId: rec.id,
        name: rec.name,
        status: rec.state,
        templateId: rec.imageId,
        error: rec.failure,
        createdAt: rec.createdAt,
        endedAt: rec.endedAt,
      },
      200,
    );
  });
}
