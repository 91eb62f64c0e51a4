// Tensorlake's image registry as the SDK reads it (the TS CloudClient on the API host): key
// introspection (organization "sbx", project = the token's project), sandbox templates (sbx's
// built images of the project) listed and found by name, and sandbox images deleted. Image
// builds themselves (`Image.build()`) are in image-builds.ts.
import type { Context } from "hono";
import { SbxError } from "@sbx-sh/protocol";
import type { ImageRecord } from "../../domain/records.js";
import type { Services } from "../../services/services.js";
import type { Api, AppEnv } from "../api-types.js";

export const TL_ORGANIZATION = "sbx";
const PREFIX = "/platform/v1/organizations/:org/projects/:proj/sandbox-templates";

export function toTemplate(r: ImageRecord) {
  return {
    id: r.id,
    name: r.tag === "latest" ? r.name : `${r.name}:${r.tag}`,
    snapshot_id: null,
    snapshot_sandbox_id: null,
    snapshot_uri: null,
    snapshot_format_version: null,
    snapshot_size_bytes: r.sizeBytes,
    rootfs_disk_bytes: r.sizeBytes,
    rootfs_node_kind: r.layers.length > 0 ? "diff" : "base",
    public: false,
    created_at: r.createdAt,
  };
}

/** The `{org}/{proj}` of a platform path must be this token's. */
export function scope(c: Context<AppEnv>): string {
  const project = c.get("project");
  if (c.req.param("org") !== TL_ORGANIZATION || c.req.param("proj") !== project)
    throw new SbxError(
      "permission_denied",
      `this token's scope is organization ${TL_ORGANIZATION}, project ${project}: set TENSORLAKE_ORGANIZATION_ID=${TL_ORGANIZATION} and TENSORLAKE_PROJECT_ID=${project}`,
    );
  return project;
}

export function registerTlTemplates(app: Api, s: Services): void {
  app.post("/platform/v1/keys/introspect", async (c) =>
    c.json({ organizationId: TL_ORGANIZATION, projectId: c.get("project"), id: "sbx-token" }, 200),
  );

  app.get(PREFIX, async (c) => {
    const project = scope(c);
    const built = (await s.images.list(project)).flatMap((e) => (e.kind === "built" ? [e.image] : []));
    return c.json({ items: built.map(toTemplate), pagination: { next: null } }, 200);
  });

  app.get(`${PREFIX}/by-name/:name`, async (c) => {
    const entry = await s.images.inspect(scope(c), c.req.param("name") ?? "");
    if (entry.kind !== "built")
      throw new SbxError("image_not_found", `${entry.base.name} is a base image, not a template`);
    return c.json(toTemplate(entry.image), 200);
  });

  app.delete("/v1/namespaces/:ns/sandbox-images/:name", async (c) => {
    await s.images.remove(c.get("project"), c.req.param("name") ?? "");
    await s.gc.collect();
    return c.json({}, 200);
  });
}
