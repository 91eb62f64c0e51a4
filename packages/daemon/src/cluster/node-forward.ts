// The control plane's side of a call it forwards to a node: the request goes on with its method,
// path, query and body as a stream (uploads are never held whole), and the node's answer comes
// back as a stream (NDJSON, downloads). The caller's credentials stay on the control plane: the
// node gets its own key (node-key.ts) and the project the control plane authenticated, nothing else.
// A node that does not accept the connection within a few seconds is node_unavailable, not a hang.
// With the control plane's --node-ca, every node is reached over TLS and its certificate must
// verify against that CA for the node's address; one that does not is node_unavailable, saying why.
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { Readable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import WebSocket from "ws";
import { SbxError } from "@sbx-sh/protocol";
import {
  CONNECT_TIMEOUT_MS,
  keyRefused,
  nodeHeaders,
  passedOn,
  splitAddress,
  tlsOptions,
  unreachable,
  type NodeTarget,
} from "./node-target.js";

/** The caller's request as a call to a node reads it: a web Request, or its method and head alone. */
export interface NodeCall {
  method: string;
  headers: Headers | IncomingHttpHeaders;
  /** Streamed to the node when `ForwardOptions.body` is not given. */
  body?: ReadableStream<Uint8Array> | null;
}

/** What a call to a node may carry besides the caller's request. */
export interface ForwardOptions {
  /** The request's body already read (else it streams from `req`). */
  body?: Uint8Array;
  /** Aborts the call: its reason, a message, becomes node_unavailable before the answer, a broken stream after. */
  signal?: AbortSignal;
  /** Runs once when the node's answer ended, failed or was dropped. */
  onEnd?: () => void;
}

/** Sends `req` to the node at `path` (with query) and answers the node's response, streamed. */
export async function forwardHttp(
  t: NodeTarget,
  req: Request,
  path: string,
  opts: ForwardOptions = {},
): Promise<Response> {
  return answerResponse(t, req.method, await requestNode(t, req, path, opts), opts.onEnd);
}

/** The node's answer `res` (to a `method` call) as a web Response, its body streamed; `onEnd` as in ForwardOptions. */
export function answerResponse(t: NodeTarget, method: string, res: IncomingMessage, onEnd?: () => void): Response {
  const headers = new Headers();
  for (const [k, v] of Object.entries(answerHeaders(t, res))) for (const one of [v].flat()) headers.append(k, one);
  const empty = emptyAnswer(method, res);
  if (empty) {
    res.resume();
    onEnd?.();
  }
  return new Response(empty ? null : streamOf(res, onEnd), { status: res.statusCode ?? 502, headers });
}

/** An answer that has no body whatever the node sends: HEAD, 204, 304. */
export function emptyAnswer(method: string, res: IncomingMessage): boolean {
  return method === "HEAD" || res.statusCode === 204 || res.statusCode === 304;
}

/** The node's answer headers as passed on to the caller: hop-by-hop ones dropped, the node named. */
export function answerHeaders(t: NodeTarget, res: IncomingMessage): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(res.headers)) if (v !== undefined && passedOn(k)) out[k] = v;
  out["x-sbx-node"] = t.node;
  return out;
}

/**
 * Sends `req` to the node at `path` (with query); resolves with the node's answer once its head
 * came (its body not yet read). A body read before (`opts.body`) goes with the head in one write.
 */
export function requestNode(
  t: NodeTarget,
  req: NodeCall,
  path: string,
  opts: ForwardOptions = {},
): Promise<IncomingMessage> {
  const { host, port } = splitAddress(t.address);
  return new Promise<IncomingMessage>((resolve, reject) => {
    const headers = nodeHeaders(t, req.headers);
    // A body read (and maybe rewritten) here has its own length, not the caller's.
    if (opts.body !== undefined) headers["content-length"] = String(opts.body.byteLength);
    const options = { host, port, method: req.method, path, headers };
    const out = t.ca ? httpsRequest({ ...options, ...tlsOptions(t, host) }) : httpRequest(options);
    const timer = setTimeout(
      () => out.destroy(new Error(`no connection in ${CONNECT_TIMEOUT_MS} ms`)),
      CONNECT_TIMEOUT_MS,
    );
    // A socket reused by the agent is already connected and never emits "connect": the timer only
    // bounds connecting, never how long the node takes to answer.
    out.once("socket", (s) => (s.connecting ? s.once("connect", () => clearTimeout(timer)) : clearTimeout(timer)));
    let answered: IncomingMessage | undefined;
    const abort = (): void => {
      const why = String(opts.signal?.reason ?? "aborted");
      if (answered) answered.destroy(new Error(why));
      else {
        out.destroy();
        reject(new SbxError("node_unavailable", `${why}: try again once it is back`, { node: t.node }));
      }
    };
    opts.signal?.addEventListener("abort", abort, { once: true });
    out.once("error", (err) => {
      clearTimeout(timer);
      reject(unreachable(t, err.message, err));
    });
    out.once("response", (res: IncomingMessage) => {
      clearTimeout(timer);
      if (res.statusCode === 401) {
        // The caller is authenticated here: a node's 401 is about this control plane's key.
        res.resume();
        reject(keyRefused(t));
        return;
      }
      answered = res;
      res.once("close", () => opts.signal?.removeEventListener("abort", abort));
      resolve(res);
    });
    // A GET or HEAD has no body: not asked for one (that would build the full web Request).
    if (opts.body !== undefined) out.end(opts.body);
    else if (req.method !== "GET" && req.method !== "HEAD" && req.body) {
      const source = Readable.fromWeb(req.body as WebReadableStream);
      source.once("error", (err) => out.destroy(err));
      source.pipe(out);
    } else out.end();
  });
}

/**
 * The node's answer as a web stream, one layer over the socket (no Readable.toWeb and wrapper on
 * top): paused while the reader is behind; `onEnd` runs once when it ends, fails or is cancelled.
 */
function streamOf(res: IncomingMessage, onEnd?: () => void): ReadableStream<Uint8Array> {
  let ended = false;
  const end = (): void => {
    if (ended) return;
    ended = true;
    onEnd?.();
  };
  return new ReadableStream<Uint8Array>(
    {
      start(ctl) {
        res.on("data", (chunk: Buffer) => {
          // A destroyed answer still hands out what it had buffered: not to a stream that is done.
          if (ended) return;
          ctl.enqueue(chunk);
          if ((ctl.desiredSize ?? 1) <= 0) res.pause();
        });
        res.once("end", () => {
          if (ended) return;
          end();
          ctl.close();
        });
        res.once("error", (err) => {
          end();
          ctl.error(err);
        });
        res.once("close", () => {
          if (ended) return;
          end();
          ctl.error(new Error("the node's answer broke off"));
        });
      },
      pull() {
        res.resume();
      },
      cancel() {
        end();
        res.destroy();
      },
    },
    { highWaterMark: 16 },
  );
}

/**
 * Opens the node's side of a WebSocket (terminal attach, port connect): resolves once the node
 * accepted it, or with the node's refusal as a Response (404, 409, ...) for the caller.
 */
export function connectNodeSocket(t: NodeTarget, path: string, from: Headers): Promise<WebSocket | Response> {
  const protocols = (from.get("sec-websocket-protocol") ?? "")
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean);
  const headers = nodeHeaders(t, from);
  delete headers["sec-websocket-protocol"];
  return new Promise((resolve, reject) => {
    const { host } = splitAddress(t.address);
    const ws = new WebSocket(`${t.ca ? "wss" : "ws"}://${t.address}${path}`, protocols, {
      headers,
      handshakeTimeout: CONNECT_TIMEOUT_MS,
      ...tlsOptions(t, host),
    });
    ws.once("open", () => resolve(ws));
    ws.once("unexpected-response", (_req, res) => {
      if (res.statusCode === 401) {
        res.resume();
        reject(keyRefused(t));
        return;
      }
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve(
          new Response(Buffer.concat(chunks), {
            status: res.statusCode ?? 502,
            headers: { "content-type": res.headers["content-type"] ?? "application/json", "x-sbx-node": t.node },
          }),
        ),
      );
      res.on("error", () => reject(unreachable(t, "the WebSocket handshake broke off")));
    });
    ws.once("error", (err) => reject(unreachable(t, err.message, err)));
  });
}

/**
 * A node's answer read whole, but never more than `max` bytes: the control plane keeps what a node
 * says (lists, create answers, snapshot ids), and a compromised node must not fill its memory.
 */
export async function boundedText(res: Response, max: number): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of (res.body ?? []) as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > max) {
      await res.body?.cancel().catch(() => undefined);
      throw new SbxError("node_unavailable", `a node's answer exceeded ${max} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}
