// The HTTP application: auth (unix socket → X-Sbx-Project; TCP → bearer token), error mapping,
// the routes, and the OpenAPI document generated from the same schemas that validate requests.
import type { Server } from "node:http";
import { createNodeWebSocket } from "@hono/node-ws";
import { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { SbxError, toSbxError, isValidName } from "@sbx-sh/protocol";
import { brokenOffBody } from "./broken-off-body.js";
import { pgOutageError } from "../store/postgres-outage.js";
import { refuseDotSegments } from "./dot-segments.js";
import { bodyLimits } from "./body-limits.js";
import { readSlots } from "./project-slots.js";
import { httpStatus } from "./http-status.js";
import { validationError } from "./validation-error.js";
import { checkNamedProject } from "./named-project.js";
import type { Services } from "../services/services.js";
import { registerFileRoutes } from "./routes/files.js";
import { registerImageRoutes } from "./routes/images.js";
import { registerOciRoutes } from "./routes/oci.js";
import { registerSnapshotRoutes } from "./routes/snapshots.js";
import { registerPortRoutes } from "./routes/ports.js";
import { registerPoolRoutes } from "./routes/pools.js";
import { registerProcessRoutes } from "./routes/processes.js";
import { registerProjectRoutes } from "./routes/projects.js";
import { registerSandboxRoutes } from "./routes/sandboxes.js";
import { registerSandboxSettingsRoutes } from "./routes/sandbox-settings.js";
import { registerSystemRoutes } from "./routes/system.js";
import { registerTerminalRoutes } from "./routes/terminals.js";
import { registerNodeRoutes } from "./routes/nodes.js";
import { registerNodeDrainRoute } from "./routes/node-drain.js";
import { registerQuotaRoutes } from "./routes/quotas.js";
import { clusterRouting } from "./cluster-routing.js";
import { clusterBuilds } from "./cluster-builds.js";
import { registerClusterImages } from "./cluster-images.js";
import { controlPlaneProject } from "./node-auth.js";
import { registerNodeContent } from "./node-content.js";
import { registerNodeMoves } from "./node-moves.js";
import { registerTensorlakeRoutes } from "./tensorlake/index.js";
import { registerEventRoutes } from "./routes/events.js";
import { registerStatsRoutes } from "./routes/stats.js";
import { registerVolumeRoutes } from "./routes/volumes.js";
import { requestLog } from "./request-log.js";
import { registerMetricsRoute } from "./metrics-server.js";
import { cookieSession } from "./ui-auth.js";
import { registerUiRoutes } from "./ui-routes.js";

export type { Api, AppEnv, Transport, UpgradeWebSocket } from "./api-types.js";
import type { Api, AppEnv, Transport } from "./api-types.js";

export type SbxApp = Api & { injectWebSocket(server: Server): void };

export function createApp(services: Services, transport: Transport): SbxApp {
  const app = new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) throw validationError(result.error.issues);
    },
  });

  const sockets = createNodeWebSocket({ app });
  // ws accepts 100 MiB frames by default, each held whole in memory: tunnels and terminals send small ones.
  sockets.wss.options.maxPayload = 8 * 1024 * 1024;
  app.use("*", requestLog(services.log, services.metrics));
  app.use("/v1/*", async (c, next) => {
    c.set("transport", transport);
    c.set("project", await resolveProject(c, services, transport));
    await next();
  });
  if (services.nodeContent) registerNodeContent(app, services, services.nodeContent);
  if (services.nodeMoves) registerNodeMoves(app, services, services.nodeMoves);
  app.use("/v1/*", bodyLimits());
  // File reads hold an agent connection and a process in the sandbox until sent: a few per project at once.
  app.get("/v1/sandboxes/:id/files", readSlots());
  app.use("*", refuseDotSegments());
  // After the body caps and the path check: a routed call is refused as on one daemon, before any node sees it.
  if (services.cluster) app.use("/v1/*", clusterRouting(services.cluster, sockets.upgradeWebSocket));
  if (services.cluster) app.use("/v1/*", clusterBuilds(services.cluster, services));

  app.onError((err, c) => {
    const e =
      err instanceof HTTPException && err.status < 500
        ? fromHttpException(err)
        : (brokenOffBody(c, err) ?? pgOutageError(err) ?? toSbxError(err));
    if (e.code === "internal") services.log.error({ err, path: c.req.path, req: c.get("requestId") }, "request failed");
    return c.json({ error: { ...e.toJSON(), requestId: c.get("requestId") } }, httpStatus(e.code) as 400);
  });
  app.notFound((c) =>
    c.json(
      {
        error: {
          code: "not_found",
          message: `no route ${c.req.method} ${c.req.path}: see GET /openapi.json`,
          requestId: c.get("requestId"),
        },
      },
      404,
    ),
  );

  registerSystemRoutes(app, services);
  registerProjectRoutes(app, services);
  registerSandboxRoutes(app, services);
  registerSandboxSettingsRoutes(app, services);
  registerProcessRoutes(app, services);
  registerFileRoutes(app, services);
  registerImageRoutes(app, services);
  registerOciRoutes(app, services);
  registerSnapshotRoutes(app, services);
  registerPortRoutes(app, services, sockets.upgradeWebSocket);
  registerPoolRoutes(app, services);
  registerTerminalRoutes(app, services, sockets.upgradeWebSocket);
  registerNodeRoutes(app, services);
  registerClusterImages(app, services);
  registerNodeDrainRoute(app, services);
  registerQuotaRoutes(app, services);
  if (transport === "tcp")
    registerTensorlakeRoutes(app, services, sockets.upgradeWebSocket, (c) => resolveProject(c, services, transport), {
      sandboxUrl: services.tensorlakeSandboxUrl ?? null,
    });
  registerEventRoutes(app, services.bus);
  registerStatsRoutes(app, services.stats);
  registerVolumeRoutes(app, services);
  if (transport === "unix" && services.metrics) registerMetricsRoute(app, services.metrics);
  if (transport === "tcp" && services.uiSessions)
    registerUiRoutes(app, { projects: services.projects, sessions: services.uiSessions });

  app.doc31("/openapi.json", { openapi: "3.1.0", info: { title: "sbx API", version: services.version } });
  return Object.assign(app, { injectWebSocket: sockets.injectWebSocket });
}

async function resolveProject(c: Context<AppEnv>, services: Services, transport: Transport): Promise<string> {
  if (transport === "tcp" && services.nodeKeys) return controlPlaneProject(c, services, services.nodeKeys);
  if (transport === "tcp") {
    const auth = c.req.header("authorization") ?? "";
    const m = /^Bearer (\S+)$/i.exec(auth);
    // The dashboard's session cookie, when there is no bearer token (ui-auth.ts checks origin and CSRF).
    const session = !m && services.uiSessions ? cookieSession(c, services.uiSessions) : undefined;
    if (session) {
      c.set("tokenId", session.tokenId);
      return session.project;
    }
    const who = m ? await services.projects.identify(m[1]!) : undefined;
    if (!who)
      throw new SbxError(
        "unauthenticated",
        "a valid bearer token is required: create one on the daemon host with `sbx token create` and send `Authorization: Bearer <token>`",
      );
    checkNamedProject(c.req.header("x-sbx-project"), who.project);
    c.set("tokenId", who.tokenId);
    return who.project;
  }
  const name = c.req.header("x-sbx-project") ?? "default";
  if (!isValidName(name)) throw new SbxError("invalid_name", `invalid project name ${JSON.stringify(name)}`);
  await services.projects.require(name);
  return name;
}

/** Hono's own request errors (a body that is not JSON, ...) are the client's, not ours. */
function fromHttpException(err: HTTPException): SbxError {
  if (err.status === 413) return new SbxError("payload_too_large", err.message, undefined, { cause: err });
  return new SbxError(
    "invalid_argument",
    `invalid request: ${err.message}: send a JSON body with content-type: application/json`,
    undefined,
    { cause: err },
  );
}
