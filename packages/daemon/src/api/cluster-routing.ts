// The control plane's routing of sandbox calls (`sbxd --role control`): runs after the caller is
// authenticated, before any local route. `POST /v1/sandboxes` places the sandbox on a node (the
// placer, capacity-aware, in one PostgreSQL transaction) and creates it there; every call on one
// sandboxes (`/v1/sandboxes/{id}/…`: exec, processes and logs, files, terminals, ports, snapshot,
// terminate) goes to the node that runs it, bodies and answers streamed, WebSockets relayed;
// `GET /v1/sandboxes` gathers the project's sandboxes from its nodes. A sandbox whose node is lost
// or unreachable answers node_unavailable at once.
import { randomUUID } from "node:crypto";
import type { Context, MiddlewareHandler } from "hono";
import { SbxError, type SandboxInfo } from "@sbx-sh/protocol";
import type { ClusterRouting } from "../cluster/cluster-role.js";
import { connectNodeSocket, forwardHttp, type NodeTarget } from "../cluster/node-forward.js";
import type { NodeWatch } from "../cluster/node-watch.js";
import type { SandboxLocation } from "../cluster/sandbox-directory.js";
import { LIMITS } from "../domain/limits.js";
import type { AppEnv, UpgradeWebSocket } from "./api-types.js";
import { MAX_JSON_BYTES } from "./body-limits.js";

const ONE_SANDBOX = /^\/v1\/sandboxes\/(?!prune(?:\/|$))([^/]+)(\/.*)?$/;

export function clusterRouting(r: ClusterRouting, upgradeWebSocket: UpgradeWebSocket): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const path = c.req.path;
    if (path === "/v1/sandboxes" && c.req.method === "POST") return createOnNode(c, r);
    if (path === "/v1/sandboxes" && c.req.method === "GET") return listFromNodes(c, r);
    const m = ONE_SANDBOX.exec(path);
    if (!m) return next();
    const project = c.get("project");
    const at = await r.directory.locate(project, decodeURIComponent(m[1]!));
    if (at.unavailable && c.req.method === "DELETE" && !m[2]) {
      // Its node is lost: give it up now; the node destroys it when it comes back (given-up.ts).
      const ended = await r.givenUp.terminate(at.sandboxId);
      if (ended) return c.json(ended, 200);
    }
    const target = targetOf(r, at, project);
    const query = new URL(c.req.url).search;
    // The node knows the sandbox by its id; the caller may have used its name.
    const nodePath = `/v1/sandboxes/${encodeURIComponent(at.sandboxId)}${m[2] ?? ""}${query}`;
    if (c.req.header("upgrade")?.toLowerCase() === "websocket")
      return relaySocket(c, next, target, nodePath, upgradeWebSocket, r.watch);
    // A node that stops renewing its lease mid-call (frozen: the connection stays open) ends the call.
    const lost = new AbortController();
    const unwatch = r.watch.watch(at.node, (why) => lost.abort(why));
    try {
      let res = await forwardHttp(target, c.req.raw, nodePath, { signal: lost.signal });
      // With --registry, a snapshot the node committed there is recorded (cluster/content-control.ts).
      if (r.content && c.req.method === "POST" && m[2] === "/snapshot")
        res = await r.content.recordSnapshot(res, at.node, project);
      if (c.req.method === "DELETE" && !m[2] && (res.ok || res.status === 404)) await r.placer.release(at.sandboxId);
      if (!res.body) {
        unwatch();
        return res;
      }
      return new Response(onEnd(res.body, unwatch), res);
    } catch (err) {
      unwatch();
      throw err;
    }
  };
}

function targetOf(r: ClusterRouting, at: SandboxLocation, project: string): NodeTarget {
  if (at.unavailable || !at.address)
    throw new SbxError(
      "node_unavailable",
      `sandbox ${at.name ?? at.sandboxId}: ${at.unavailable ?? `its node ${at.node} has no address`}`,
      { node: at.node, sandbox: at.sandboxId },
    );
  return { node: at.node, address: at.address, secret: r.secret, project };
}

/** Places the sandbox, then creates it on the chosen node; a refused or failed create frees the room. */
async function createOnNode(c: Context<AppEnv>, r: ClusterRouting): Promise<Response> {
  const raw = new Uint8Array(await c.req.arrayBuffer());
  if (raw.byteLength > MAX_JSON_BYTES) throw new SbxError("payload_too_large", "request bodies are limited to 1 MiB");
  let body: Record<string, unknown>;
  try {
    body = raw.byteLength === 0 ? {} : (JSON.parse(Buffer.from(raw).toString("utf8")) as Record<string, unknown>);
  } catch {
    throw new SbxError("invalid_argument", "invalid request: send a JSON body with content-type: application/json");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw new SbxError("invalid_argument", "invalid request: body: expected an object");
  if (body.snapshotId !== undefined && !r.content)
    throw new SbxError(
      "unimplemented",
      "creating from a snapshot through the control plane needs the cluster registry: start it with --registry host:port",
    );
  const num = (v: unknown, fallback: number, what: string): number => {
    if (v === undefined) return fallback;
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0)
      throw new SbxError("invalid_argument", `invalid request: ${what}: expected a positive number`);
    return v;
  };
  if (body.name !== undefined && typeof body.name !== "string")
    throw new SbxError("invalid_argument", "invalid request: name: expected a string");
  const project = c.get("project");
  // Any node can restore it: the chosen one pulls it from the registry first.
  const snapshot = body.snapshotId !== undefined ? await r.content!.resolveSnapshot(project, body.snapshotId) : null;
  const provisional = `pending-${randomUUID()}`;
  const placed = await r.placer.place({
    sandboxId: provisional,
    project,
    name: (body.name as string | undefined) ?? null,
    cpus: num(body.cpus, LIMITS.cpus.default, "cpus"),
    memoryMb: Math.ceil(num(body.memoryMb, LIMITS.memoryMb.default, "memoryMb")),
    layers: [],
    selector: {},
  });
  let created = false;
  try {
    const at = await r.directory.locate(project, provisional);
    const lost = new AbortController();
    const unwatch = r.watch.watch(at.node, (why) => lost.abort(why));
    const refused = snapshot
      ? await r.content!.fetchOn(targetOf(r, at, project), snapshot, lost.signal).catch((err: unknown) => {
          unwatch();
          throw err;
        })
      : null;
    if (refused) {
      unwatch();
      return refused;
    }
    const res = await forwardHttp(targetOf(r, at, project), c.req.raw, "/v1/sandboxes", {
      body: raw,
      signal: lost.signal,
    }).finally(unwatch);
    if (!res.ok) return res;
    const text = await res.text();
    const sandbox = JSON.parse(text) as SandboxInfo;
    await r.directory.confirm(provisional, sandbox.id, sandbox);
    created = true;
    r.log.info({ sandbox: sandbox.id, node: placed.node, candidates: placed.candidates }, "sandbox placed");
    return new Response(text, { status: res.status, headers: res.headers });
  } finally {
    if (!created) await r.placer.release(provisional);
  }
}

/** The project's sandboxes from every node that runs some; those on unreachable nodes are listed apart. */
async function listFromNodes(c: Context<AppEnv>, r: ClusterRouting): Promise<Response> {
  const project = c.get("project");
  const placed = await r.directory.ofProject(project);
  const byNode = new Map<string, SandboxLocation[]>();
  for (const p of placed) byNode.set(p.node, [...(byNode.get(p.node) ?? []), p]);
  const sandboxes: SandboxInfo[] = [];
  const unavailable: Array<{ id: string; name: string | null; node: string; reason: string }> = [];
  const query = new URL(c.req.url).search;
  await Promise.all(
    [...byNode.values()].map(async (ats) => {
      const at = ats[0]!;
      const ours = new Set(ats.map((a) => a.sandboxId));
      try {
        const res = await forwardHttp(targetOf(r, at, project), new Request(c.req.url), `/v1/sandboxes${query}`, {
          signal: AbortSignal.timeout(10_000),
        });
        if (!res.ok) throw new SbxError("node_unavailable", `node ${at.node} answered ${res.status}`);
        const list = (await res.json()) as { sandboxes: SandboxInfo[] };
        sandboxes.push(...list.sandboxes.filter((s) => ours.has(s.id)));
      } catch (err) {
        const reason = err instanceof Error ? err.message : String(err);
        for (const a of ats) unavailable.push({ id: a.sandboxId, name: a.name, node: a.node, reason });
      }
    }),
  );
  // Given up while this list was gathered: listed once, with the reason it is gone.
  const givenUp = await r.givenUp.lostOfProject(project);
  const gone = new Set(givenUp.map((g) => g.sandboxId));
  const stillListed = unavailable.filter((u) => !gone.has(u.id));
  unavailable.length = 0;
  unavailable.push(
    ...stillListed,
    ...givenUp.map((g) => ({ id: g.sandboxId, name: g.name, node: g.node, reason: g.reason })),
  );
  sandboxes.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
  return c.json({ sandboxes, unavailable }, 200);
}

/** The same stream, calling `done` once it ends, fails or is cancelled by the caller. */
function onEnd(body: ReadableStream<Uint8Array>, done: () => void): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let once = false;
  const finish = (): void => {
    if (once) return;
    once = true;
    done();
  };
  return new ReadableStream<Uint8Array>({
    async pull(ctl) {
      try {
        const { value, done: end } = await reader.read();
        if (end) {
          finish();
          ctl.close();
        } else ctl.enqueue(value);
      } catch (err) {
        finish();
        ctl.error(err);
      }
    },
    cancel(reason) {
      finish();
      return reader.cancel(reason);
    },
  });
}

/** Relays a WebSocket between the caller and the node, once the node accepted its side. */
async function relaySocket(
  c: Context<AppEnv>,
  next: () => Promise<void>,
  target: NodeTarget,
  path: string,
  upgradeWebSocket: UpgradeWebSocket,
  watch: NodeWatch,
): Promise<Response | void> {
  const up = await connectNodeSocket(target, path, c.req.raw.headers);
  if (up instanceof Response) return up;
  const unwatch = watch.watch(target.node, (why) => up.close(1011, why.slice(0, 120)));
  up.once("close", unwatch);
  const early: Array<[Buffer, boolean]> = [];
  up.on("message", (data: Buffer, isBinary: boolean) => early.push([data, isBinary]));
  const closeCode = (code: number): number => (code === 1000 || (code >= 3000 && code < 5000) ? code : 1011);
  return upgradeWebSocket(() => ({
    onOpen(_e, ws) {
      up.removeAllListeners("message");
      const send = (data: Buffer, isBinary: boolean): void =>
        ws.send(isBinary ? new Uint8Array(data).buffer : data.toString("utf8"));
      for (const [d, b] of early.splice(0)) send(d, b);
      up.on("message", send);
      up.on("close", (code: number, reason: Buffer) => ws.close(closeCode(code), reason.toString("utf8")));
      up.on("error", () => ws.close(1011, `node ${target.node} connection failed`));
    },
    onMessage(e) {
      const d = e.data;
      up.send(typeof d === "string" ? d : d instanceof ArrayBuffer ? Buffer.from(d) : d, {
        binary: typeof d !== "string",
      });
    },
    onClose(e) {
      up.close(closeCode(e.code), e.reason);
    },
    onError() {
      up.terminate();
    },
  }))(c, next);
}
