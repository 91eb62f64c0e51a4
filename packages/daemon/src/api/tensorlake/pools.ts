// Tensorlake's `sandbox-pools` routes (namespaced and flat) on sbx's pool service: create, get,
// list, update, delete, and claim (a running sandbox from the pool's warm blanks).
import type { Context } from "hono";
import { z } from "zod";
import { LIMITS } from "../../domain/limits.js";
import type { PoolRecord, PoolSpec } from "../../services/pool-service.js";
import type { Services } from "../../services/services.js";
import type { Api, AppEnv } from "../api-types.js";
import { parse, readJson, type TlDeps } from "./common.js";
import { both, sbxImageName } from "./lifecycle.js";
import { toTlCreated } from "./shapes.js";

const PoolBody = z.object({
  image: z.string().min(1).optional().nullable(),
  resources: z
    .object({
      cpus: z.number().positive().optional(),
      memory_mb: z.number().int().positive().optional(),
      ephemeral_disk_mb: z.number().int().positive().optional().nullable(),
      disk_mb: z.number().int().positive().optional().nullable(),
    })
    .optional(),
  timeout_secs: z.number().int().min(0).optional().nullable(),
  max_containers: z.number().int().min(0).optional().nullable(),
  warm_containers: z.number().int().min(0).optional().nullable(),
  network: z.object({ allow_internet_access: z.boolean().optional() }).optional().nullable(),
});

function toSpec(b: z.infer<typeof PoolBody>): PoolSpec {
  return {
    image: sbxImageName(b.image),
    cpus: b.resources?.cpus,
    memoryMb: b.resources?.memory_mb,
    diskMb: b.resources?.disk_mb ?? b.resources?.ephemeral_disk_mb ?? undefined,
    timeoutSecs: b.timeout_secs ?? undefined,
    allowInternetAccess: b.network?.allow_internet_access,
    warm: b.warm_containers ?? 0,
    max: b.max_containers ?? null,
  };
}

export function registerTlPools(app: Api, s: Services, deps: TlDeps): void {
  const project = (c: Context<AppEnv>) => c.get("project");
  const view = (p: PoolRecord) => ({
    id: p.id,
    namespace: p.project,
    image: p.image ?? s.images.defaultImage,
    resources: {
      cpus: p.cpus ?? LIMITS.cpus.default,
      memory_mb: p.memoryMb ?? LIMITS.memoryMb.default,
      ephemeral_disk_mb: p.diskMb ?? LIMITS.diskMb.default,
    },
    timeout_secs: p.timeoutSecs ?? 0,
    max_containers: p.max,
    warm_containers: p.warm,
    created_at: p.createdAt || null,
    stats: s.pools.statsOf(p.id),
    containers: [],
  });

  both(app, "post", "/sandbox-pools", async (c) => {
    const p = await s.pools.create(project(c), toSpec(parse(PoolBody, await readJson(c))));
    return c.json({ pool_id: p.id, namespace: p.project }, 200);
  });
  both(app, "get", "/sandbox-pools", async (c) => c.json({ pools: s.pools.list(project(c)).map(view) }, 200));
  both(app, "get", "/sandbox-pools/:id", async (c) => c.json(view(s.pools.get(project(c), c.req.param("id")!)), 200));
  both(app, "put", "/sandbox-pools/:id", async (c) => {
    const spec = toSpec(parse(PoolBody, await readJson(c)));
    return c.json(view(await s.pools.update(project(c), c.req.param("id")!, spec)), 200);
  });
  both(app, "delete", "/sandbox-pools/:id", async (c) => {
    await s.pools.remove(project(c), c.req.param("id")!);
    return c.json({}, 200);
  });
  both(app, "post", "/sandbox-pools/:id/sandboxes", async (c) => {
    const sb = await s.pools.claim(project(c), c.req.param("id")!);
    return c.json(toTlCreated(sb, deps.sandboxUrl(c)), 200);
  });
}
