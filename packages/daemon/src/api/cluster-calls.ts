// What the control plane's routes share when they hand a call to a node (api/cluster-routing.ts for
// sbx's API, api/cluster-tensorlake.ts for the Tensorlake-compatible one): the target with the
// node's own key (and TLS CA), a forwarded call watched against the node's lease, a WebSocket
// relayed message by message, and a create placed first and confirmed (or freed) after.
import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Context } from "hono";
import { SbxError } from "@sbx-sh/protocol";
import type { ClusterRouting } from "../cluster/cluster-role.js";
import { pipeAnswer } from "../cluster/node-answer.js";
import {
  answerResponse,
  boundedText,
  connectNodeSocket,
  forwardHttp,
  requestNode,
  type NodeCall,
} from "../cluster/node-forward.js";
import { type NodeTarget } from "../cluster/node-target.js";
import { deriveNodeKey } from "../cluster/node-key.js";
import type { SandboxLocation } from "../cluster/sandbox-directory.js";
import type { AppEnv, UpgradeWebSocket } from "./api-types.js";
import { MAX_JSON_BYTES } from "./body-limits.js";
import { alreadySent, outgoingOf } from "./ndjson-out.js";
import { smallBody } from "./small-body.js";
import { SuspendRoom } from "./suspend-room-call.js";
import { isPgOutage } from "../store/postgres-outage.js";

/** A sandbox id or name from a routed path, %-escapes decoded; a malformed escape is the caller's error, not a 500. */
export function pathSegment(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new SbxError(
      "invalid_argument",
      `invalid request: the path segment ${JSON.stringify(raw.slice(0, 200))} holds a malformed %-escape`,
    );
  }
}

export function targetOf(
  r: ClusterRouting,
  at: SandboxLocation,
  project: string,
  extraHeaders?: Record<string, string>,
): NodeTarget {
  if (at.unavailable || !at.address)
    throw new SbxError(
      "node_unavailable",
      `sandbox ${at.name ?? at.sandboxId}: ${at.unavailable ?? `its node ${at.node} has no address`}`,
      { node: at.node, sandbox: at.sandboxId },
    );
  return {
    node: at.node,
    address: at.address,
    key: deriveNodeKey(r.secret, at.node, at.keySalt),
    project,
    ...(r.nodeCa ? { ca: r.nodeCa } : {}),
    ...(extraHeaders ? { extraHeaders } : {}),
  };
}

/**
 * Forwards the call to the node, answers its response streamed; a node that stops renewing its
 * lease mid-call (frozen: the connection stays open) ends the call. `terminates`: a terminate the
 * node answered (ok, or the sandbox is gone there) frees the placement before the caller hears.
 * `direct`: the node's answer is written straight to the caller's connection (cluster/node-answer.ts),
 * for a call whose answer the control plane neither reads nor records; the Response returned then
 * only tells the HTTP server so (and the request log its status).
 */
export async function forwardCall(
  c: Context<AppEnv>,
  r: ClusterRouting,
  target: NodeTarget,
  nodePath: string,
  opts: { terminates?: boolean; direct?: boolean } = {},
): Promise<Response> {
  const to = opts.direct ? outgoingOf(c) : undefined;
  const body = await smallBody(c);
  const sandbox = sandboxOf(nodePath);
  // A suspended sandbox holds no room on its node: a resume takes it back first, a suspend frees it (suspend-room-call.ts).
  const room = await SuspendRoom.before(r.placer, c.req.method, nodePath, sandbox);
  const { res, unwatch } = await callNode(r, target, c.req.raw, nodePath, body).catch(async (err: unknown) => {
    await room?.failed(err);
    throw err;
  });
  try {
    const status = res.statusCode ?? 502;
    const ok = status >= 200 && status < 300;
    if (opts.terminates && sandbox && (ok || status === 404)) {
      await r.placer.release(sandbox);
      r.directory.forget(sandbox);
    }
    await room?.answered(status);
    if (to && status >= 200 && status <= 599) {
      pipeAnswer(target, c.req.method, res, to, { "x-request-id": c.get("requestId") }, unwatch);
      return alreadySent(status);
    }
    // Answered as made from the node's answer: a Response built from another as its init would be
    // a materialised web Response, which the HTTP server reads ahead of writing (waiting a timer
    // tick when the next chunk is not there yet): a millisecond on every forwarded call.
    return answerResponse(target, c.req.method, res, unwatch);
  } catch (err) {
    res.destroy();
    unwatch();
    throw err;
  }
}

/** The sandbox id in a node path (`/v1/sandboxes/{id}…`), decoded. */
function sandboxOf(nodePath: string): string | undefined {
  const raw = /\/sandboxes\/([^/?]+)/.exec(nodePath)?.[1];
  return raw === undefined ? undefined : decodeURIComponent(raw);
}

/**
 * Sends a call to the node, watched against its lease: a node that stops renewing it mid-call
 * (frozen: the connection stays open) ends the call. Resolves with the node's answer head and the
 * watch's end (the caller runs it when the answer ended: pipeAnswer's or answerResponse's onEnd).
 * A failed call, or a 404, forgets where the sandbox runs: the next call asks PostgreSQL.
 */
export async function callNode(
  r: ClusterRouting,
  target: NodeTarget,
  req: NodeCall,
  nodePath: string,
  body: Uint8Array | undefined,
): Promise<{ res: IncomingMessage; unwatch: () => void }> {
  const lost = new AbortController();
  const unwatch = r.watch.watch(target.node, (why) => lost.abort(why));
  const sandbox = sandboxOf(nodePath);
  try {
    // The node's answer streams on to the caller; the watch ends with it (or at once when it has no body).
    const call = { signal: lost.signal, onEnd: unwatch, ...(body ? { body } : {}) };
    const res = await requestNode(target, req, nodePath, call).catch((err: unknown) => {
      if (sandbox) r.directory.answered(sandbox, "failed");
      throw err;
    });
    if (sandbox) r.directory.answered(sandbox, res.statusCode ?? 502);
    return { res, unwatch };
  } catch (err) {
    unwatch();
    throw err;
  }
}

/**
 * Places a sandbox (its resources and name), then creates it on the chosen node with the request's
 * own body; the node's answer names the sandbox's id (`idOf`). A refused or failed create frees the room.
 */
export async function placeAndCreate(
  c: Context<AppEnv>,
  r: ClusterRouting,
  want: {
    cpus: number;
    memoryMb: number;
    name: string | null;
    selector?: Record<string, string>;
    /** The image's layer digests: nodes that hold them are preferred. */
    layers?: string[];
  },
  nodePath: string,
  raw: Uint8Array,
  idOf: (answer: unknown) => string | undefined,
  extraHeaders?: Record<string, string>,
  /** Runs on the chosen node before the create (a snapshot pulled there); an answer it returns ends the call. */
  prepare?: (target: NodeTarget, signal: AbortSignal) => Promise<Response | null>,
): Promise<Response> {
  const project = c.get("project");
  const provisional = `pending-${randomUUID()}`;
  const placed = await r.placer
    .place({
      sandboxId: provisional,
      project,
      name: want.name,
      cpus: want.cpus,
      memoryMb: want.memoryMb,
      layers: want.layers ?? [],
      selector: want.selector ?? {},
    })
    .catch(async (err: unknown) => {
      // The connection may have broken after the placement committed: its row must not stay either.
      if (isPgOutage(err)) await r.placer.releaseProvisional(provisional);
      throw err;
    });
  let created = false;
  try {
    const at = await r.directory.locate(project, provisional);
    const lost = new AbortController();
    const unwatch = r.watch.watch(at.node, (why) => lost.abort(why));
    const target = targetOf(r, at, project, extraHeaders);
    const refused = prepare
      ? await prepare(target, lost.signal).catch((err: unknown) => {
          unwatch();
          throw err;
        })
      : null;
    if (refused) {
      unwatch();
      return refused;
    }
    const res = await forwardHttp(target, c.req.raw, nodePath, { body: raw, signal: lost.signal }).finally(unwatch);
    if (!res.ok) return res;
    const text = await boundedText(res, MAX_JSON_BYTES);
    const answer = JSON.parse(text) as unknown;
    const id = idOf(answer);
    if (!id) throw new SbxError("internal", `node ${at.node} answered the create without a sandbox id`);
    // The node's answer is kept to answer a terminate while the node is lost (given-up.ts).
    if (!(await r.directory.confirm(provisional, id, answer)))
      // This replica's lease ran out mid-create and another swept its placement (cluster/orphan-creates.ts):
      // the node's sandbox is unknown now, and node-strays destroys it; the caller creates again.
      throw new SbxError(
        "daemon_unavailable",
        `the control plane lost this create's placement (its replica stopped renewing its lease while node ` +
          `${at.node} created sandbox ${id}, which will be destroyed): create it again`,
        { node: at.node },
      );
    created = true;
    r.log.info({ sandbox: id, node: placed.node, candidates: placed.candidates }, "sandbox placed");
    return new Response(text, { status: res.status, headers: res.headers });
  } finally {
    // Not r.placer.release: when PostgreSQL is what failed, that fails too, and the row would stay.
    if (!created) await r.placer.releaseProvisional(provisional);
  }
}

/** Relays a WebSocket between the caller and the node, once the node accepted its side. */
export async function relaySocket(
  c: Context<AppEnv>,
  next: () => Promise<void>,
  r: ClusterRouting,
  target: NodeTarget,
  path: string,
  upgradeWebSocket: UpgradeWebSocket,
): Promise<Response | void> {
  const up = await connectNodeSocket(target, path, c.req.raw.headers);
  if (up instanceof Response) return up;
  const unwatch = r.watch.watch(target.node, (why) => up.close(1011, why.slice(0, 120)));
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

/** Reads a create's JSON body whole (small by the body caps), for placement; bad JSON is the caller's. */
export async function readCreateBody(
  c: Context<AppEnv>,
  limit: number,
): Promise<{ raw: Uint8Array; body: Record<string, unknown> }> {
  const raw = new Uint8Array(await c.req.arrayBuffer());
  if (raw.byteLength > limit) throw new SbxError("payload_too_large", "request bodies are limited to 1 MiB");
  let body: unknown;
  try {
    body = raw.byteLength === 0 ? {} : (JSON.parse(Buffer.from(raw).toString("utf8")) as unknown);
  } catch {
    throw new SbxError("invalid_argument", "invalid request: send a JSON body with content-type: application/json");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw new SbxError("invalid_argument", "invalid request: body: expected an object");
  return { raw, body: body as Record<string, unknown> };
}

/**
 * A resource of a create request within sbx's limits (domain/limits.ts), or the default when absent.
 * Checked here because placement runs before any node's own schema sees the request: past the limit,
 * it is the same 400 one daemon gives, never a number PostgreSQL's integer columns refuse with a 500.
 */
export function resource(v: unknown, limit: { min: number; max: number; default: number }, what: string): number {
  if (v === undefined || v === null) return limit.default;
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0)
    throw new SbxError("invalid_argument", `invalid request: ${what}: expected a positive number`);
  if (v > limit.max)
    throw new SbxError("invalid_argument", `invalid request: ${what}: Too big: expected number to be <=${limit.max}`);
  if (v < limit.min)
    throw new SbxError("invalid_argument", `invalid request: ${what}: Too small: expected number to be >=${limit.min}`);
  return v;
}
