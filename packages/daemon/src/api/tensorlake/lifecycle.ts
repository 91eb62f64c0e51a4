// Tensorlake lifecycle routes, in both of the SDK's forms: `/v1/namespaces/{ns}/sandboxes...`
// (API URL on localhost) and flat `/sandboxes...` (API URL `api.<domain>`, sent to `sandbox.<domain>`).
// Each maps onto the sandbox, snapshot and port services: no behaviour of its own.
import type { Context } from "hono";
import { z } from "zod";
import { SbxError } from "@sbx-sh/protocol";
import { MAX_EXPOSED_PORTS } from "../../domain/limits.js";
import type { SandboxRecord } from "../../domain/records.js";
import { tooManyPorts } from "../../services/port-service.js";
import type { Services } from "../../services/services.js";
import type { Api, AppEnv } from "../api-types.js";
import { parse, readJson, type TlDeps } from "./common.js";
import { toTlArchived, toTlCreated, toTlSandbox, toTlSnapshot } from "./shapes.js";

const Resources = z.object({
  cpus: z.number().positive().optional(),
  memory_mb: z.number().int().positive().optional(),
  disk_mb: z.number().int().positive().optional().nullable(),
  ephemeral_disk_mb: z.number().int().positive().optional().nullable(),
  gpus: z.array(z.unknown()).optional().nullable(),
});
const CreateBody = z.object({
  resources: Resources.optional(),
  image: z.string().min(1).optional().nullable(),
  timeout_secs: z.number().int().min(0).optional().nullable(),
  entrypoint: z.array(z.string()).optional().nullable(),
  snapshot_id: z.string().min(1).optional().nullable(),
  name: z.string().min(1).optional().nullable(),
  file_systems: z.array(z.unknown()).optional().nullable(),
  network: z
    .object({
      allow_internet_access: z.boolean().optional(),
      allow_out: z.array(z.string()).optional(),
      deny_out: z.array(z.string()).optional(),
    })
    .optional()
    .nullable(),
});
const PatchBody = z.object({
  name: z.string().min(1).optional().nullable(),
  allow_unauthenticated_access: z.boolean().optional().nullable(),
  exposed_ports: z.array(z.number().int().min(1).max(65535)).optional().nullable(),
});
const SnapshotBody = z.object({ snapshot_type: z.enum(["filesystem", "memory"]).optional() });

/** Tensorlake's image names (`tensorlake/ubuntu-minimal`) are sbx's base names behind a prefix. */
export function sbxImageName(image: string | null | undefined): string | undefined {
  if (!image) return undefined;
  return image.startsWith("tensorlake/") ? image.slice("tensorlake/".length) : image;
}

export function unsupported(what: string): SbxError {
  return new SbxError("unimplemented", `${what} is a Tensorlake cloud feature that sbx does not provide`);
}

/** Registers `path` in the namespaced form and the flat form. */
export function both(
  app: Api,
  method: "get" | "post" | "put" | "patch" | "delete",
  path: string,
  handler: (c: Context<AppEnv>) => Promise<Response>,
): void {
  app[method](`/v1/namespaces/:ns${path}`, handler);
  app[method](path, handler);
}

export function registerTlLifecycle(app: Api, s: Services, deps: TlDeps): void {
  const url = deps.sandboxUrl;
  const project = (c: Context<AppEnv>) => c.get("project");
  const view = async (c: Context<AppEnv>, r: SandboxRecord) => ({
    ...toTlSandbox(r, url(c), r.status === "terminated" ? [] : await s.ports.list(r.project, r.id)),
    pool_id: s.pools.poolOf(r.id),
  });

  both(app, "post", "/sandboxes", async (c) => {
    const body = parse(CreateBody, await readJson(c));
    const r = await createFromBody(s, project(c), body);
    return c.json(toTlCreated(r, url(c)), 200);
  });

  both(app, "get", "/sandboxes", async (c) => {
    const list = await s.sandboxes.list(project(c), false);
    return c.json({ sandboxes: await Promise.all(list.map((r) => view(c, r))) }, 200);
  });

  both(app, "get", "/sandboxes/:id", async (c) => c.json(await view(c, await s.sandboxes.get(project(c), id(c))), 200));

  both(app, "patch", "/sandboxes/:id", async (c) => {
    const body = parse(PatchBody, await readJson(c));
    const sb = await s.sandboxes.get(project(c), id(c));
    if (body.name && body.name !== sb.name) throw unsupported("renaming a sandbox");
    const current = await s.ports.list(sb.project, sb.id);
    // Each port once (a list of one port repeated is one exposure, not a loop), checked before any
    // port is closed: a refused update changes nothing.
    const ports = [...new Set(body.exposed_ports ?? current.map((p) => p.port))];
    if (ports.length > MAX_EXPOSED_PORTS) throw tooManyPorts(sb.id);
    const isPublic = body.allow_unauthenticated_access ?? current.some((p) => p.public);
    for (const p of current) if (!ports.includes(p.port)) await s.ports.close(sb.project, sb.id, p.port);
    for (const port of ports) await s.ports.expose(sb.project, sb.id, port, { public: isPublic });
    return c.json(await view(c, await s.sandboxes.get(sb.project, sb.id)), 200);
  });

  both(app, "delete", "/sandboxes/:id", async (c) => {
    const sb = await s.sandboxes.get(project(c), id(c));
    // Tensorlake treats deleting an ended sandbox as done, not as a conflict.
    const r = sb.status === "terminated" ? sb : await s.sandboxes.terminate(sb.project, sb.id);
    return c.json(await view(c, r), 200);
  });

  both(app, "post", "/sandboxes/:id/suspend", async (c) => {
    const r = await s.sandboxes.suspend(project(c), id(c));
    return c.json(await view(c, r), 200);
  });

  both(app, "post", "/sandboxes/:id/resume", async (c) => {
    const r = await s.sandboxes.resume(project(c), id(c));
    return c.json(await view(c, r), 200);
  });

  both(app, "post", "/sandboxes/:id/copy", async (c) => {
    const times = Number(c.req.query("times") ?? "1");
    const made = await s.sandboxes.fork(project(c), id(c), times);
    const source = await s.sandboxes.get(project(c), id(c));
    return c.json({ source_sandbox_id: source.id, sandboxes: made.map((r) => toTlCreated(r, url(c))) }, 200);
  });

  both(app, "post", "/sandboxes/:id/snapshot", async (c) => {
    const body = parse(SnapshotBody, (await readJson(c, true)) ?? {});
    const snap = await s.sandboxes.snapshot(project(c), id(c), { type: body.snapshot_type ?? "filesystem" });
    return c.json({ snapshot_id: snap.id, status: toTlSnapshot(snap).status }, 200);
  });

  both(app, "get", "/snapshots", async (c) => {
    const bySandbox = c.req.query("sandbox_id");
    const list = (await s.snapshots.list(project(c))).filter((x) => !bySandbox || x.sourceSandboxId === bySandbox);
    return c.json({ snapshots: list.map(toTlSnapshot) }, 200);
  });
  both(app, "get", "/snapshots/:id", async (c) => c.json(toTlSnapshot(await s.snapshots.get(project(c), id(c))), 200));
  both(app, "delete", "/snapshots/:id", async (c) => {
    await s.snapshots.remove(project(c), id(c));
    return c.json({}, 200);
  });

  both(app, "get", "/archived-sandboxes", async (c) => {
    const ended = (await s.sandboxes.list(project(c), true)).filter((r) => r.status === "terminated");
    const limit = Math.min(Math.max(Number(c.req.query("limit") ?? "50") || 50, 1), 500);
    // Cursors are base64 (as Tensorlake's are) of an offset into the ended sandboxes, newest first.
    const start = Math.max(Number(Buffer.from(c.req.query("cursor") ?? "", "base64").toString()) || 0, 0);
    const cursor = (n: number) => Buffer.from(String(n)).toString("base64");
    const backward = c.req.query("direction") === "backward";
    const from = backward ? Math.max(start - limit, 0) : start;
    const page = ended.slice(from, from + limit);
    return c.json(
      {
        sandboxes: page.map((r) => toTlArchived(r, url(c))),
        prev_cursor: from > 0 ? cursor(from) : null,
        next_cursor: from + limit < ended.length ? cursor(from + limit) : null,
      },
      200,
    );
  });
  both(app, "get", "/archived-sandboxes/:id", async (c) => {
    const r = await s.sandboxes.get(project(c), id(c));
    if (r.status !== "terminated")
      throw new SbxError("sandbox_not_found", `sandbox ${r.id} is not archived: it is ${r.status}`);
    return c.json(toTlArchived(r, url(c)), 200);
  });

  for (const method of ["post", "delete"] as const)
    both(app, method, "/sandboxes/:id/file_systems", async () => {
      throw unsupported("attaching Tensorlake file systems");
    });
}

function id(c: Context<AppEnv>): string {
  return c.req.param("id") ?? "";
}

/** A Tensorlake create request as sbx's create (and its entrypoint as a first process). */
export async function createFromBody(
  s: Services,
  project: string,
  body: z.infer<typeof CreateBody>,
): Promise<SandboxRecord> {
  if (body.resources?.gpus?.length) throw unsupported("GPUs");
  if (body.file_systems?.length) throw unsupported("file systems");
  const r = await s.sandboxes.create(project, {
    image: sbxImageName(body.image),
    snapshotId: body.snapshot_id ?? undefined,
    name: body.name ?? undefined,
    cpus: body.resources?.cpus,
    memoryMb: body.resources?.memory_mb,
    diskMb: body.resources?.disk_mb ?? body.resources?.ephemeral_disk_mb ?? undefined,
    timeoutSecs: body.timeout_secs ?? undefined,
    allowInternetAccess: body.network?.allow_internet_access,
    allowOut: body.network?.allow_out,
    denyOut: body.network?.deny_out,
  });
  const [command, ...args] = body.entrypoint ?? [];
  if (command) await s.processes.start(project, r.id, { command, args });
  return r;
}

export { CreateBody };
