// The daemon's HTTP reverse proxy for exposed ports: routes by Host (`<port>-<sandboxId>.<domain>`)
// to the sandbox's address (the host reaches sandbox addresses; sandboxes never reach the host),
// checks the exposure's token, and relays plain requests and upgraded (WebSocket) connections.
// A cluster node with --tls-cert/--tls-key serves it over TLS (the control plane's relay verifies
// it against --node-ca); its limits (applyProxyLimits) are the control plane's relay's too.
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createTlsServer, type ServerOptions as TlsServerOptions } from "node:https";
import { connect, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { Logger } from "../common/log.js";
import { SbxError } from "@sbx-sh/protocol";
import type { PortService } from "../services/port-service.js";
import { proxyHttpStatus } from "./http-status.js";

export const TOKEN_HEADER = "x-sbx-token";
export const TOKEN_QUERY = "sbx_token";
const TOKEN_COOKIE = "sbx_token";
/** Connection-level headers that describe one hop, not the request (RFC 9110 §7.6.1; the cluster relay's too). */
export const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/** Connections one client address may hold open at once; past it new ones are closed at once. */
export const MAX_CONNECTIONS_PER_CLIENT = 256;
/** A connection must send its request head within this, and may idle between requests this long. */
const HEADERS_TIMEOUT_MS = 10_000;

export function createPortProxy(
  ports: PortService,
  log: Logger,
  maxPerClient = MAX_CONNECTIONS_PER_CLIENT,
  /** Given (a cluster node's certificate and key), the proxy serves HTTPS. */
  tls?: TlsServerOptions,
): Server {
  // A lookup that fails (the store) drops the connection; it is logged, never left unhandled.
  const failed = (conn: { destroy(): void }) => (err: unknown) => {
    log.error({ err }, "port proxy lookup failed");
    conn.destroy();
  };
  const handler = (req: IncomingMessage, res: ServerResponse): void => void serve(req, res).catch(failed(res));
  const server = tls ? createTlsServer(tls, handler) : createServer(handler);
  const serve = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const ambiguous = framingProblem(req);
    if (ambiguous) return badRequest(res, ambiguous);
    const { token, fromQuery, path } = credentials(req);
    const d = await ports.decide(req.headers.host, token);
    if (!d.ok) return refuse(res, d.error);
    const cookie = `${TOKEN_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Lax`;
    // A token in the URL of a page load becomes a cookie of this host, and the browser is sent to
    // the same URL without it (out of its history and of Referer headers to the sandbox's pages).
    if (fromQuery && !d.exposure.public && (req.method === "GET" || req.method === "HEAD")) {
      res.writeHead(303, { location: path, "set-cookie": cookie, "cache-control": "no-store", "content-length": 0 });
      res.end();
      return;
    }
    const headers = forwardHeaders(req.headers, req.socket);
    for (const k of Object.keys(headers)) if (HOP_BY_HOP.has(k)) delete headers[k];
    // A body the client framed as chunked goes on chunked (Node frames it again): never unframed.
    const up = httpRequest({
      host: d.target.host,
      port: d.target.port,
      method: req.method,
      path,
      headers,
      agent: false,
    });
    up.on("response", (ur) => {
      const out: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(ur.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
      if (fromQuery && !d.exposure.public) out["set-cookie"] = [...toArray(out["set-cookie"]), cookie];
      res.writeHead(ur.statusCode ?? 502, out);
      ur.pipe(res);
    });
    up.on("error", (err) => {
      if (!res.headersSent) refuse(res, unreachable(d.target.port, d.exposure.sandboxId, err));
      else res.destroy();
    });
    req.pipe(up);
    res.on("close", () => up.destroy());
    ports.track(d.exposure.sandboxId, d.exposure.port, up);
  };

  server.on("upgrade", (req: IncomingMessage, client: Duplex, head: Buffer) => {
    client.on("error", () => undefined);
    void upgrade(req, client, head).catch(failed(client));
  });
  const upgrade = async (req: IncomingMessage, client: Duplex, head: Buffer): Promise<void> => {
    const { token, path } = credentials(req);
    const d = await ports.decide(req.headers.host, token);
    if (!d.ok) return refuseRaw(client, d.error);
    const up: Socket = connect({ host: d.target.host, port: d.target.port });
    up.once("error", (err) => refuseRaw(client, unreachable(d.target.port, d.exposure.sandboxId, err)));
    up.once("connect", () => {
      up.removeAllListeners("error");
      up.on("error", () => client.destroy());
      client.on("error", () => up.destroy());
      // The upgrade request goes on as it came (minus our credentials); after it, bytes both ways.
      const headers = forwardHeaders(req.headers, req.socket);
      const lines = [`${req.method} ${path} HTTP/1.1`];
      for (const [k, v] of Object.entries(headers)) for (const one of toArray(v)) lines.push(`${k}: ${one}`);
      up.write(lines.join("\r\n") + "\r\n\r\n");
      if (head.length) up.write(head);
      up.pipe(client).pipe(up);
      up.once("close", () => client.end());
      ports.track(d.exposure.sandboxId, d.exposure.port, up);
    });
  };

  applyProxyLimits(server, maxPerClient);
  server.on("error", (err) => log.error({ err }, "port proxy failed"));
  return server;
}

/**
 * A proxy listener's limits (the port proxy's and the cluster relay's): idle connections are fds
 * of the daemon, so they are capped per client address and timed out (upgraded connections are the
 * application's and stay until either side closes them, or the relay's idle timeout); requests
 * Node's parser refuses (CL with TE, duplicated or bad Content-Length, bad chunks) get a plain 400
 * rather than a dropped connection.
 */
export function applyProxyLimits(server: Server, maxPerClient = MAX_CONNECTIONS_PER_CLIENT): void {
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = 60_000;
  server.keepAliveTimeout = 5_000;
  const perClient = new Map<string, number>();
  server.on("connection", (socket: Socket) => {
    const who = socket.remoteAddress ?? "";
    const n = (perClient.get(who) ?? 0) + 1;
    if (n > maxPerClient) {
      socket.destroy();
      return;
    }
    perClient.set(who, n);
    socket.once("close", () => {
      const left = (perClient.get(who) ?? 1) - 1;
      if (left > 0) perClient.set(who, left);
      else perClient.delete(who);
    });
  });
  server.on("clientError", (_err, socket: Duplex) => {
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    else socket.destroy();
  });
}

/** The token (header, then query, then cookie), and the path to send on without it. */
function credentials(req: IncomingMessage): { token: string | undefined; fromQuery: boolean; path: string } {
  const url = new URL(req.url ?? "/", "http://proxy.invalid");
  const queryToken = url.searchParams.get(TOKEN_QUERY) ?? undefined;
  url.searchParams.delete(TOKEN_QUERY);
  // One leading slash: "//host/..." (or "/\\host") in a Location would send the browser elsewhere.
  const path = url.pathname.replace(/^[/\\]+/, "/") + url.search;
  const header = req.headers[TOKEN_HEADER];
  if (typeof header === "string" && header) return { token: header, fromQuery: false, path };
  if (queryToken) return { token: queryToken, fromQuery: true, path };
  return { token: cookieToken(req.headers.cookie), fromQuery: false, path };
}

function cookieToken(cookie: string | undefined): string | undefined {
  for (const part of (cookie ?? "").split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === TOKEN_COOKIE) return v.join("=");
  }
  return undefined;
}

/** The request's headers for the sandbox: our token and cookie taken out, X-Forwarded-* added. */
function forwardHeaders(h: IncomingHttpHeaders, socket: Socket): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  // Headers the Connection header names are hop-by-hop too; forwarding headers are the proxy's to
  // set, never the client's to pass through (a forged X-Forwarded-For, Forwarded or X-Real-IP).
  const named = new Set(
    String(h.connection ?? "")
      .split(",")
      .map((x) => x.trim().toLowerCase())
      .filter((x) => x && x !== "upgrade"),
  );
  for (const [k, v] of Object.entries(h))
    if (v !== undefined && k !== TOKEN_HEADER && !named.has(k) && !FORWARDING.test(k)) out[k] = v;
  if (typeof out.cookie === "string") {
    const rest = out.cookie
      .split(";")
      .map((p) => p.trim())
      .filter((p) => p && !p.startsWith(`${TOKEN_COOKIE}=`));
    if (rest.length) out.cookie = rest.join("; ");
    else delete out.cookie;
  }
  out["x-forwarded-for"] = socket.remoteAddress ?? "";
  out["x-forwarded-host"] = h.host ?? "";
  out["x-forwarded-proto"] = "http";
  return out;
}

const FORWARDING = /^(x-forwarded-.*|forwarded|x-real-ip)$/;

/** Why a request's body framing is ambiguous (a GET or HEAD with a body), or undefined. */
function framingProblem(req: IncomingMessage): string | undefined {
  const te = req.headers["transfer-encoding"];
  const cl = req.headers["content-length"];
  if ((req.method === "GET" || req.method === "HEAD") && (te !== undefined || (cl !== undefined && cl !== "0")))
    return `a ${req.method} request with a body is ambiguous: send the body with POST or PUT`;
  if (te !== undefined && cl !== undefined) return "Content-Length and Transfer-Encoding together are ambiguous";
  return undefined;
}

function badRequest(res: ServerResponse, message: string): void {
  const body = JSON.stringify({ error: { code: "invalid_argument", message } });
  res.writeHead(400, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    connection: "close",
  });
  res.end(body);
}

function unreachable(port: number, sandboxId: string, err: Error): SbxError {
  return new SbxError(
    "upstream_unreachable",
    `nothing answers on port ${port} of sandbox ${sandboxId} (${(err as NodeJS.ErrnoException).code ?? err.message}): start a server listening on 0.0.0.0:${port} inside it`,
    undefined,
    { cause: err },
  );
}

/** The proxy's refusal: the error body of the API, with the proxy's status for its code (the cluster relay's too). */
export function refuse(res: ServerResponse, e: SbxError): void {
  const body = JSON.stringify({ error: { code: e.code, message: e.message } });
  res.writeHead(proxyHttpStatus(e.code), {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
  });
  res.end(body);
}

/** The same refusal on a raw socket (an upgrade request that is refused before any HTTP response exists). */
export function refuseRaw(socket: Duplex, e: SbxError): void {
  const body = JSON.stringify({ error: { code: e.code, message: e.message } });
  const status = proxyHttpStatus(e.code);
  const reason =
    { 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 502: "Bad Gateway", 503: "Service Unavailable" }[
      status
    ] ?? "Error";
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

function toArray(v: string | string[] | undefined): string[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}
