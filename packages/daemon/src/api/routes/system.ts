// Daemon-wide routes: info, projects and their tokens.
import { createRoute, z } from "@hono/zod-openapi";
import { SbxError } from "@sbx-sh/protocol";
import type { Services } from "../../services/services.js";
import type { Api } from "../api-types.js";
import { CreateProjectRequest, DaemonInfo, ErrorBody, Project, Token } from "../schemas/index.js";
import { json, jsonBody } from "./common.js";

export function registerSystemRoutes(app: Api, s: Services): void {
  app.get("/healthz", (c) => c.json({ ok: true }));

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/info",
      summary: "Daemon version and host facts",
      responses: { 200: json(DaemonInfo, "daemon info") },
    }),
    async (c) => {
      const i = s.info();
      const running = (await s.sandboxes.list(c.get("project"), false)).filter((x) => x.status === "running").length;
      return c.json(
        {
          version: s.version,
          runtime: i.runtime,
          cgroupVersion: i.cgroupVersion,
          // A host path: for the host's own user (the socket), not for every token holder over TCP.
          ...(c.get("transport") === "unix" ? { dataDir: i.dataDir } : {}),
          sandboxesRunning: running,
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/projects",
      summary: "List projects",
      responses: { 200: json(z.object({ projects: z.array(Project) }), "projects") },
    }),
    async (c) =>
      c.json(
        {
          projects:
            c.get("transport") === "unix"
              ? await s.projects.list()
              : (await s.projects.list()).filter((p) => p.name === c.get("project")),
        },
        200,
      ),
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/projects",
      summary: "Create a project",
      request: jsonBody(CreateProjectRequest),
      responses: { 201: json(Project, "created"), 409: json(ErrorBody, "exists") },
    }),
    async (c) => {
      adminOnly(c.get("transport"));
      return c.json(await s.projects.create(c.req.valid("json").name), 201);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/projects/{name}/tokens",
      summary: "Create an API token for a project (the secret is shown once)",
      request: { params: z.object({ name: z.string() }) },
      responses: { 201: json(Token, "token") },
    }),
    async (c) => {
      adminOnly(c.get("transport"));
      return c.json(await s.projects.createToken(c.req.valid("param").name), 201);
    },
  );
}

function adminOnly(transport: string): void {
  if (transport !== "unix")
    throw new SbxError("permission_denied", "projects and tokens are managed over the daemon's unix socket only");
}
