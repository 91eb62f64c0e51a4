// Project and token management beyond create: list and revoke a project's tokens, delete a
// project. Over the unix socket (root) any project; over TCP a token sees only its own project's
// tokens and may revoke them, except the one it is using.
import { createRoute, z } from "@hono/zod-openapi";
import { SbxError } from "@sbx-sh/protocol";
import type { Services } from "../../services/services.js";
import type { Api, AppEnv } from "../api-types.js";
import { ErrorBody, Project, Token } from "../schemas/index.js";
import { json } from "./common.js";
import type { Context } from "hono";

const ProjectParams = z.object({ name: z.string().min(1).max(128) });
const TokenParams = z.object({ name: z.string().min(1).max(128), id: z.string().min(1).max(128) });

/** A TCP caller manages only the project of its own token. */
function ownProject(c: Context<AppEnv>, name: string): void {
  if (c.get("transport") !== "unix" && name !== c.get("project"))
    throw new SbxError(
      "permission_denied",
      `this token belongs to project ${c.get("project")}: other projects are managed over the daemon's unix socket`,
    );
}

export function registerProjectRoutes(app: Api, s: Services): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/projects/{name}/tokens",
      summary: "List a project's API tokens (ids and dates, never the secrets)",
      request: { params: ProjectParams },
      responses: { 200: json(z.object({ tokens: z.array(Token) }), "tokens"), 404: json(ErrorBody, "unknown") },
    }),
    async (c) => {
      const { name } = c.req.valid("param");
      ownProject(c, name);
      return c.json({ tokens: await s.projects.listTokens(name) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/projects/{name}/tokens/{id}",
      summary: "Revoke an API token (not the one the request uses)",
      request: { params: TokenParams },
      responses: {
        200: json(Token, "the revoked token"),
        404: json(ErrorBody, "unknown"),
        412: json(ErrorBody, "the token in use"),
      },
    }),
    async (c) => {
      const { name, id } = c.req.valid("param");
      ownProject(c, name);
      const revoked = await s.projects.revokeToken(name, id, c.get("tokenId"));
      s.uiSessions?.endWhere({ tokenId: id }); // a dashboard signed in with it is signed out too
      return c.json(revoked, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/projects/{name}",
      summary: "Delete an empty project and its tokens (not default, not the current one)",
      request: { params: ProjectParams },
      responses: {
        200: json(Project, "the deleted project"),
        404: json(ErrorBody, "unknown"),
        412: json(ErrorBody, "current, default or not empty"),
      },
    }),
    async (c) => {
      if (c.get("transport") !== "unix")
        throw new SbxError("permission_denied", "projects are deleted over the daemon's unix socket only");
      const deleted = await s.projects.delete(c.req.valid("param").name, c.get("project"));
      s.uiSessions?.endWhere({ project: deleted.name });
      // A project made later under this name must not see the build contexts this one uploaded.
      await s.contexts.forgetProject(deleted.name);
      return c.json(deleted, 200);
    },
  );
}
