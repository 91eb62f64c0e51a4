// The Tensorlake-compatible route set: what the unchanged `tensorlake` SDK calls (lifecycle in its
// namespaced and flat forms, per-sandbox `/api/v1/...`, pools, images), served on the TCP listener
// with the same project bearer tokens as sbx's own API, each route mapped onto sbx's services.
// The SDK's wire is described in docs (README "Using the Tensorlake SDK with sbx").
import type { Context } from "hono";
import type { Services } from "../../services/services.js";
import type { Api, AppEnv, UpgradeWebSocket } from "../api-types.js";
import { bodyLimits } from "../body-limits.js";
import { readSlots } from "../project-slots.js";
import { clusterTensorlake } from "../cluster-tensorlake.js";
import { checkNamespace, tlAuth } from "./context.js";
import { registerTlFiles } from "./files.js";
import { registerTlLifecycle } from "./lifecycle.js";
import { registerTlLogs } from "./logs.js";
import { registerTlPools } from "./pools.js";
import { registerTlProcesses } from "./processes.js";
import { registerTlPty } from "./pty.js";
import { registerTlTemplates, scope } from "./templates.js";
import { TlImageBuilds } from "./image-builds.js";
import { registerTlImageBuilds } from "./image-build-routes.js";

/** Paths of this route set outside sbx's `/v1/*` (which has its own auth middleware). */
const TL_PATH = /^\/(sandboxes|snapshots|archived-sandboxes|sandbox-pools|api\/v1|platform)(\/|$)/;

export interface TensorlakeOptions {
  /** The advertised `sandbox_url`; null: the scheme and host the request came to. */
  sandboxUrl: string | null;
}

export function registerTensorlakeRoutes(
  app: Api,
  s: Services,
  upgradeWebSocket: UpgradeWebSocket,
  resolveProject: (c: Context<AppEnv>) => Promise<string>,
  opts: TensorlakeOptions,
): void {
  const auth = tlAuth(resolveProject);
  const limits = bodyLimits();
  app.use("*", async (c, next) => {
    if (!TL_PATH.test(c.req.path)) return next();
    await auth(c, async () => {
      await limits(c, next);
    });
  });
  app.get("/api/v1/files", readSlots());
  app.use("/v1/namespaces/:ns/*", async (c, next) => {
    checkNamespace(c.req.param("ns"), c.get("project"));
    await next();
  });
  const deps = {
    sandboxUrl: (c: Context<AppEnv>) => {
      if (opts.sandboxUrl) return opts.sandboxUrl;
      const proto = c.req.header("x-forwarded-proto") ?? new URL(c.req.url).protocol.replace(":", "");
      return `${proto}://${c.req.header("host") ?? new URL(c.req.url).host}`;
    },
  };
  // A control plane hands sandbox calls to the nodes that run them (cluster-tensorlake.ts).
  if (s.cluster) app.use("*", clusterTensorlake(s.cluster, upgradeWebSocket, deps.sandboxUrl));
  registerTlLifecycle(app, s, deps);
  const imageBuilds = new TlImageBuilds(s);
  registerTlProcesses(app, s, imageBuilds);
  registerTlFiles(app, s);
  registerTlPty(app, s, upgradeWebSocket);
  registerTlPools(app, s, deps);
  registerTlLogs(app, s);
  registerTlTemplates(app, s);
  registerTlImageBuilds(app, imageBuilds, s.templateBuilds, scope);
}
