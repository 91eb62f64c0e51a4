// The control plane's routing of sandbox calls (`sbxd --role control`): runs after the caller is
// authenticated, before any local route. `POST /v1/sandboxes` places the sandbox on a node (the
// placer, capacity-aware, in one PostgreSQL transaction) and creates it there; every call on one
// sandboxes (`/v1/sandboxes/{id}/…`: exec, processes and logs, files, terminals, ports, snapshot,
// terminate) goes to the node that runs it, bodies and answers streamed, WebSockets relayed;
// `GET /v1/sandboxes` gathers the project's sandboxes from its nodes. A sandbox whose node is lost
// or unreachable answers node_unavailable at once. Calls that would act on the control host's own
// daemon (pools, volumes, ...) are refused (api/cluster-refusals.ts). Runs after the body caps and
// the dot-segment check, so a routed call is refused as on one daemon.
import type { Context, MiddlewareHandler } from "hono";
import { SbxError, type SandboxInfo } from "@sbx-sh/protocol";
import type { ClusterRouting } from "../cluster/cluster-role.js";
import type { NodeTarget } from "../cluster/node-target.js";
import { givenUpReason } from "../cluster/given-up.js";
import { checkLabels } from "../cluster/node-registry.js";
import { LIMITS } from "../domain/limits.js";
import type { AppEnv, UpgradeWebSocket } from "./api-types.js";
import { MAX_JSON_BYTES } from "./body-limits.js";
import {
  forwardCall,
  pathSegment,
  placeAndCreate,
  resource,
  readCreateBody,
  relaySocket,
  targetOf,
} from "./cluster-calls.js";
import { gatherFromNodes } from "./cluster-gather.js";
import { controlPlaneRefusal } from "./cluster-refusals.js";
import { clusterSnapshots, SNAPSHOT_PATH } from "./cluster-snapshots.js";
import { keepMoveRecord } from "./cluster-move-record.js";

const ONE_SANDBOX = /^\/v1\/sandboxes\/(?!prune(?:\/|$))([^/]+)(\/.*)?$/;

export function clusterRouting(r: ClusterRouting, upgradeWebSocket: UpgradeWebSocket): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const path = c.req.path;
    const refused = controlPlaneRefusal(path);
    if (refused) throw refused;
    if (path === "/v1/sandboxes" && c.req.method === "POST") return createOnNode(c, r);
    if (path === "/v1/sandboxes" && c.req.method === "GET") return listFromNodes(c, r);
    const snap = SNAPSHOT_PATH.exec(path);
    if (snap) return clusterSnapshots(c, r, snap[1]);
    const m = ONE_SANDBOX.exec(path);
    if (!m) return next();
    const project = c.get("project");
    const at = await r.directory.locate(project, pathSegment(m[1]!));
    if (at.unavailable && c.req.method === "DELETE" && !m[2]) {
      // Its node is lost: give it up now; the node destroys it when it comes back (given-up.ts).
      const ended = await r.givenUp.terminate(at.sandboxId);
      if (ended) {
        await r.mover?.moves.forget(at.sandboxId, ["suspended"]);
        return c.json(ended, 200);
      }
    }
    // Suspended on a node that is lost (or a move was interrupted): started on another node (sandbox-mover.ts).
    if (at.unavailable && r.mover && c.req.method === "POST" && m[2] === "/resume")
      return c.json(await r.mover.resumeElsewhere(project, at.sandboxId, at.node), 200);
    const target = targetOf(r, at, project);
    const query = new URL(c.req.url).search;
    // The node knows the sandbox by its id; the caller may have used its name.
    const nodePath = `/v1/sandboxes/${encodeURIComponent(at.sandboxId)}${m[2] ?? ""}${query}`;
    if (c.req.header("upgrade")?.toLowerCase() === "websocket")
      return relaySocket(c, next, r, target, nodePath, upgradeWebSocket);
    const terminates = c.req.method === "DELETE" && !m[2];
    // Snapshot, suspend and resume answers are recorded here, a terminate frees the placement: the
    // caller hears those once that is done; any other answer goes straight to the caller.
    const recorded = c.req.method === "POST" && ["/snapshot", "/suspend", "/resume"].includes(m[2] ?? "");
    const res = await forwardCall(c, r, target, nodePath, { terminates, direct: !terminates && !recorded });
    // With --registry, a snapshot the node committed there is recorded (cluster/content-control.ts).
    if (r.content && c.req.method === "POST" && m[2] === "/snapshot") {
      const recorded = await r.content.recordSnapshot(res, at.node, project);
      if (r.snapshots && recorded.status === 201)
        await r.snapshots.keep(project, JSON.parse(await recorded.clone().text()) as unknown);
      return recorded;
    }
    if (r.mover && res.ok) await keepMoveRecord(r, c.req.method, m[2], at, project);
    return res;
  };
}

/** Places the sandbox, then creates it on the chosen node; a refused or failed create frees the room. */
async function createOnNode(c: Context<AppEnv>, r: ClusterRouting): Promise<Response> {
  const { raw, body } = await readCreateBody(c, MAX_JSON_BYTES);
  if (body.snapshotId !== undefined && !r.content)
    throw new SbxError(
      "unimplemented",
      "creating from a snapshot through the control plane needs the cluster registry: start it with --registry host:port",
    );
  if (body.name !== undefined && typeof body.name !== "string")
    throw new SbxError("invalid_argument", "invalid request: name: expected a string");
  const project = c.get("project");
  // Any node can restore it: the chosen one pulls it from the registry first.
  const snapshot = body.snapshotId !== undefined ? await r.content!.resolveSnapshot(project, body.snapshotId) : null;
  const content = r.content;
  // An image built on some node: the chosen node pulls it first (cluster/control-images.ts).
  const image = !snapshot && r.images ? await r.images.resolve(project, body.image) : null;
  const images = r.images;
  const prepare =
    snapshot && content
      ? (target: NodeTarget, signal: AbortSignal) => content.fetchOn(target, snapshot, signal)
      : image && images
        ? (target: NodeTarget, signal: AbortSignal) => images.fetchOn(target, image, signal)
        : undefined;
  const { placement, ...rest } = body;
  const want = {
    cpus: resource(body.cpus, LIMITS.cpus, "cpus"),
    memoryMb: Math.ceil(resource(body.memoryMb, LIMITS.memoryMb, "memoryMb")),
    name: (body.name as string | undefined) ?? null,
    selector: nodeSelector(placement),
    layers: image?.layers ?? [],
  };
  // The placement is the control plane's: the node gets the rest of the request.
  const forNode = placement === undefined ? raw : new TextEncoder().encode(JSON.stringify(rest));
  return placeAndCreate(
    c,
    r,
    want,
    "/v1/sandboxes",
    forNode,
    (a) => (a as Partial<SandboxInfo>).id,
    undefined,
    prepare,
  );
}

/** `placement.nodeSelector`, checked as node labels are. */
export function nodeSelector(placement: unknown): Record<string, string> {
  if (placement === undefined) return {};
  const p = placement as { nodeSelector?: unknown };
  const sel = p?.nodeSelector ?? {};
  const bad = (why: string): SbxError => new SbxError("invalid_argument", `invalid request: placement${why}`);
  if (typeof p !== "object" || p === null || Array.isArray(p) || Object.keys(p).some((k) => k !== "nodeSelector"))
    throw bad(": expected { nodeSelector: { key: value } }");
  if (
    typeof sel !== "object" ||
    sel === null ||
    Array.isArray(sel) ||
    Object.values(sel).some((v) => typeof v !== "string")
  )
    throw bad(".nodeSelector: expected an object of string labels");
  checkLabels(sel as Record<string, string>);
  return sel as Record<string, string>;
}

/** The project's sandboxes from every node that runs some; those on unreachable nodes are listed apart. */
async function listFromNodes(c: Context<AppEnv>, r: ClusterRouting): Promise<Response> {
  const query = new URL(c.req.url).search;
  const { items, unavailable } = await gatherFromNodes(
    c,
    r,
    `/v1/sandboxes${query}`,
    (list) => (list as { sandboxes: SandboxInfo[] }).sandboxes,
    (s) => s.id,
  );
  // Given up while this list was gathered: listed once, with the reason it is gone.
  const givenUp = await r.givenUp.lostOfProject(c.get("project"));
  const gone = new Set(givenUp.map((g) => g.sandboxId));
  const stillListed = unavailable.filter((u) => !gone.has(u.id));
  unavailable.length = 0;
  unavailable.push(
    ...stillListed,
    ...givenUp.map((g) => ({ id: g.sandboxId, name: g.name, node: g.node, reason: givenUpReason(g) })),
  );
  items.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
  return c.json({ sandboxes: items, unavailable }, 200);
}
