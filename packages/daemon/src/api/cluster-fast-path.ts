// The control plane's fast path (`sbxd --role control`): the forwarded one-sandbox calls whose
// answer the control plane neither reads nor records (exec, process start and reads, signals, file
// reads, sandbox info) are served off the HTTP server's own request, in front of the hono app: the
// same authentication (token or project, through the same route cache), the same directory lookup,
// the call sent to the node watched against its lease, and the node's answer written straight back
// (cluster/node-dispatch.ts, undici's dispatch rather than node:http's client; an exec on a raw
// socket, cluster/node-relay.ts), logged and counted
// like any call (its log line says `fast`; lines are written a batch at once, deferred-request-log.ts).
// What it saves is the app's per-call work: a web Request, a hono context, six middlewares.
//
// It only ever serves the happy path. Anything else falls through to the app unchanged, so every
// refusal is the app's own: a route or method not listed here, an odd path (dot segments,
// %-escapes, characters an id never has), a body that is streamed, undeclared or not small, an
// upgrade or an Expect, no or an odd Host, no bearer token, an unknown token or project, an unknown
// sandbox, a node that cannot take calls. Nothing of the request is read before that is decided.
// Once the call is the fast path's, a failure to reach the node is answered as the app answers it
// (same JSON).
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { isValidName, toSbxError } from "@sbx-sh/protocol";
import type { ClusterRouting } from "../cluster/cluster-role.js";
import { dispatchAnswer } from "../cluster/node-dispatch.js";
import { relayAnswer } from "../cluster/node-relay.js";
import type { NodeTarget } from "../cluster/node-target.js";
import type { SandboxLocation } from "../cluster/sandbox-directory.js";
import type { Logger } from "../common/log.js";
import { pgOutageError } from "../store/postgres-outage.js";
import type { ProjectService } from "../services/project-service.js";
import type { Transport } from "./api-types.js";
import { targetOf } from "./cluster-calls.js";
import { readWhole, SMALL_BODY_BYTES } from "./small-body.js";
import { hasDotSegment } from "./dot-segments.js";
import { httpStatus } from "./http-status.js";
import { namesOtherProject } from "./named-project.js";
import type { DeferredRequestLog } from "./deferred-request-log.js";
import { requestIdFor } from "./request-log.js";

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

export interface FastPathDeps {
  cluster: ClusterRouting;
  projects: Pick<ProjectService, "require" | "identify">;
  log: Logger;
  /** Where the calls' request log lines and metrics go (written after the calls, a batch at once). */
  lines: DeferredRequestLog;
}

/** `/v1/sandboxes/{id}{rest}`: an id or name as the API makes them (no %-escapes, never `prune`). */
const ONE_SANDBOX = /^\/v1\/sandboxes\/(?!prune$)([A-Za-z0-9_][A-Za-z0-9._-]{0,127})((?:\/[A-Za-z0-9_-]+){0,3})$/;
const PID = "[A-Za-z0-9_-]+";
/** The calls served here, by method and the path after the sandbox, with their route template. */
const ROUTES: Array<[method: string, rest: RegExp, route: string]> = [
  ["GET", /^$/, ""],
  ["POST", /^\/exec$/, "/exec"],
  ["GET", /^\/processes$/, "/processes"],
  ["POST", /^\/processes$/, "/processes"],
  ["GET", new RegExp(`^/processes/${PID}$`), "/processes/:pid"],
  ["GET", new RegExp(`^/processes/${PID}/output$`), "/processes/:pid/output"],
  ["POST", new RegExp(`^/processes/${PID}/signal$`), "/processes/:pid/signal"],
  ["GET", /^\/files$/, "/files"],
  ["GET", /^\/files\/list$/, "/files/list"],
  ["GET", /^\/stats$/, "/stats"],
];
/** A Host the HTTP adapter takes as it is (a lowercase name or IPv4 address, maybe a port). */
const PLAIN_HOST = /^[a-z0-9.-]+(?::\d{1,5})?$/;

interface Plan {
  sandbox: string;
  rest: string;
  query: string;
  route: string;
  /** The request's body length (0: none). */
  length: number;
}

/** What the fast path would serve, judged from the request line and head alone; undefined: the app's. */
export function planOf(req: IncomingMessage): Plan | undefined {
  const url = req.url ?? "";
  const q = url.indexOf("?");
  const path = q < 0 ? url : url.slice(0, q);
  const m = ONE_SANDBOX.exec(path);
  if (!m || hasDotSegment(url)) return undefined;
  const rest = m[2]!;
  const hit = ROUTES.find(([method, re]) => method === req.method && re.test(rest));
  const h = req.headers;
  // Expect (100-continue) is left to the app's node:http client, which speaks it with the node.
  if (!hit || h.upgrade !== undefined || h.expect !== undefined || !PLAIN_HOST.test(h.host ?? "")) return undefined;
  const length = bodyLength(req);
  if (length === undefined) return undefined;
  // The query as the app passes it on (the URL parser's serialisation).
  const query = q < 0 ? "" : new URL(url, "http://x").search;
  return { sandbox: m[1]!, rest, query, route: `/v1/sandboxes/:id${hit[2]}`, length };
}

/** The body's length when it is absent or declared and small (read whole); undefined: the app streams it. */
function bodyLength(req: IncomingMessage): number | undefined {
  const declared = req.headers["content-length"];
  if (req.headers["transfer-encoding"] !== undefined) return undefined;
  if (declared === undefined) return req.method === "GET" ? 0 : undefined;
  if (!/^\d{1,15}$/.test(declared)) return undefined;
  const n = Number(declared);
  return n <= SMALL_BODY_BYTES && (n === 0 || req.method !== "GET") ? n : undefined;
}

/** The caller's project, authenticated as the app does it; undefined: the app answers (and refuses). */
async function projectOf(req: IncomingMessage, deps: FastPathDeps, transport: Transport): Promise<string | undefined> {
  if (transport === "tcp") {
    const m = /^Bearer (\S+)$/i.exec(req.headers.authorization ?? "");
    const project = m ? (await deps.projects.identify(m[1]!))?.project : undefined;
    // A request naming another project than its token's is the app's to refuse (./named-project.ts).
    return project === undefined || namesOtherProject(header(req, "x-sbx-project"), project) ? undefined : project;
  }
  const name = header(req, "x-sbx-project") ?? "default";
  if (!isValidName(name)) return undefined;
  await deps.projects.require(name);
  return name;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(", ") : v;
}

/**
 * The HTTP server's request listener with the fast path in front of the app's (`app`): each
 * request is the fast path's or, unchanged and unread, the app's.
 */
export function withFastPath(deps: FastPathDeps, transport: Transport, app: Listener): Listener {
  return (req, res) => {
    const plan = planOf(req);
    if (!plan) return app(req, res);
    const started = performance.now();
    serve(req, res, plan, deps, transport, started).then(
      (served) => {
        if (!served) app(req, res);
      },
      () => res.destroy(),
    );
  };
}

/** `createServer` for @hono/node-server's createAdaptorServer, with the fast path in front of its listener. */
export function fastPathServer(
  deps: FastPathDeps,
  transport: Transport,
  create: (options: object, listener: Listener) => Server = createHttpServer,
): (options: object, listener: Listener) => Server {
  return (options, listener) => create(options, withFastPath(deps, transport, listener));
}

/** Serves the call planned; false (before anything of it is read or answered): the app's. */
async function serve(
  req: IncomingMessage,
  res: ServerResponse,
  plan: Plan,
  deps: FastPathDeps,
  transport: Transport,
  started: number,
): Promise<boolean> {
  const r = deps.cluster;
  let project: string | undefined;
  let at: SandboxLocation;
  let target: NodeTarget;
  try {
    project = await projectOf(req, deps, transport);
    if (project === undefined) return false;
    at = await r.directory.locate(project, plan.sandbox);
    if (at.unavailable) return false;
    target = targetOf(r, at, project);
  } catch {
    // The app answers it, with its own refusal (an unknown project or sandbox, a lost node, ...).
    return false;
  }
  const id = requestIdFor(header(req, "x-request-id"));
  const line = { req: id, method: req.method!, route: plan.route, project, fast: true as const };
  try {
    const body = plan.length > 0 ? await readWhole(req) : req.method === "GET" ? undefined : new Uint8Array(0);
    // The node knows the sandbox by its id; the caller may have used its name.
    const path = `/v1/sandboxes/${encodeURIComponent(at.sandboxId)}${plan.rest}${plan.query}`;
    const call = { method: req.method!, headers: req.headers, body };
    // An exec goes on a raw socket (node-relay.ts): it is the call whose milliseconds count most.
    const send = plan.rest === "/exec" ? relayAnswer : dispatchAnswer;
    const status = await send(target, call, path, res, { "x-request-id": id }, (onLost) =>
      r.watch.watch(target.node, onLost),
    ).catch((err: unknown) => {
      r.directory.answered(at.sandboxId, "failed");
      throw err;
    });
    r.directory.answered(at.sandboxId, status);
    deps.lines.add({ ...line, status, seconds: (performance.now() - started) / 1000 });
  } catch (err) {
    const e = pgOutageError(err) ?? toSbxError(err);
    if (e.code === "internal") deps.log.error({ err, path: req.url, req: id }, "request failed");
    const status = httpStatus(e.code);
    if (res.headersSent) res.destroy();
    else {
      const text = JSON.stringify({ error: { ...e.toJSON(), requestId: id } });
      res.writeHead(status, { "content-type": "application/json", "x-request-id": id });
      res.end(text);
    }
    deps.lines.add({ ...line, status, seconds: (performance.now() - started) / 1000 });
  }
  return true;
}
