// Every API call gets a request id (the client's X-Request-Id when it is a sane one, else a new
// one), returned in the X-Request-Id header and in error bodies, and one log line when it is
// answered: method, route template, status, time, project. The metrics count it by route template,
// never by raw path (ids in paths would make unbounded label values).
import { randomBytes } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import type { Logger } from "../common/log.js";
import type { DaemonMetrics } from "../services/metrics.js";
import type { AppEnv } from "./api-types.js";

const CLIENT_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** Random bytes drawn ahead, 9 per id: one call to the CSPRNG per 512 requests, not one per request. */
let pool = Buffer.alloc(0);
let used = 0;

export function newRequestId(): string {
  if (used + 9 > pool.length) {
    pool = randomBytes(9 * 512);
    used = 0;
  }
  used += 9;
  return `req_${pool.toString("base64url", used - 9, used)}`;
}

/** The call's request id: the client's X-Request-Id when it is a sane one, else a new one. */
export function requestIdFor(given: string | undefined): string {
  return given && CLIENT_ID.test(given) ? given : newRequestId();
}

/** What one answered call logs and counts. */
export interface RequestLine {
  req: string;
  method: string;
  /** The route template, or "unmatched". */
  route: string;
  status: number;
  seconds: number;
  project: string | undefined;
  /** Served by the control plane's fast path (api/cluster-fast-path.ts), not the app. */
  fast?: true;
}

/** The request's log line and metrics (the app's middleware below, and the control plane's fast path). */
export function logRequest(log: Logger, metrics: DaemonMetrics | undefined, r: RequestLine): void {
  metrics?.observeRequest(r.method, r.route, r.status, r.seconds);
  const line = {
    req: r.req,
    method: r.method,
    route: r.route,
    status: r.status,
    ms: Math.round(r.seconds * 10000) / 10,
    project: r.project,
    ...(r.fast ? { fast: true } : {}),
  };
  if (r.status >= 500) log.warn(line, "request");
  else log.info(line, "request");
}

export function requestLog(log: Logger, metrics: DaemonMetrics | undefined): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const id = requestIdFor(c.req.header("x-request-id"));
    c.set("requestId", id);
    const started = performance.now();
    await next();
    const seconds = (performance.now() - started) / 1000;
    const status = c.res.status;
    // The template of the route that answered; "*" and "/v1/*" are the middlewares: no route matched.
    const route = /\*$/.test(c.req.routePath) ? "unmatched" : c.req.routePath;
    // A WebSocket's 101 answer has immutable headers; the id is in the log line either way.
    try {
      c.res.headers.set("x-request-id", id);
    } catch {
      /* immutable headers (upgrades) */
    }
    logRequest(log, metrics, { req: id, method: c.req.method, route, status, seconds, project: c.get("project") });
  };
}
