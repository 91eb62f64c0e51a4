// The control plane's exec relay to a node (api/cluster-fast-path.ts): the same call as
// node-dispatch.ts makes with undici, made on a raw kept-alive socket instead. The request head is
// written by hand with the body in one write, and the answer is read by a bounded parser
// (answer-parser.ts) and written to the caller as it comes. Exec is a few milliseconds, and what the
// control plane added to it over a byte pipe was mostly the two HTTP stacks; this drops the client's.
// Same rules as node-dispatch.ts: the node gets its own key and the project (nodeHeaders),
// hop-by-hop headers are dropped both ways, the answer names its node (x-sbx-node), a node that
// cannot be reached (TCP, or TLS against --node-ca) is node_unavailable, and a 401 is the node
// refusing this control plane's key. A node's answer that breaks HTTP framing or a bound is
// upstream_unreachable for that call and its socket is dropped; a socket that closes before the
// answer is node_unavailable and the call is not sent again (an exec is not idempotent). A socket is
// only reused well inside the node's keep-alive timeout, so the node does not close it under a call.
// A node that takes the call and sends no answer head within RELAY_LIMITS.headMs is node_unavailable
// too (a live node whose handler hangs: the lease watch only ends calls to a node that stopped renewing).
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { SbxError } from "@sbx-sh/protocol";
import { AnswerParser, type AnswerHead } from "./answer-parser.js";
import type { SendAnswer, SmallCall } from "./node-dispatch.js";
import { CONNECT_TIMEOUT_MS, nodeHeaders, splitAddress, tlsOptions, type NodeTarget } from "./node-target.js";
import { RelayCall } from "./relay-call.js";

/**
 * How long the node's answer head may take once the call is written: undici's headersTimeout, which
 * exec had before the relay and every other forwarded call still has. It cannot cut a long-running
 * exec: a node answers an exec's head once the process has started (routes/processes.ts, its
 * `started` line held at most 2 ms), not at its exit, and the body has no timeout (an exec may be
 * quiet for hours; a node that dies under it is the lease watch's). Tests shorten it.
 */
export const RELAY_LIMITS = { headMs: 300_000 };

/** Idle sockets kept per node, and nodes with idle sockets; past either bound a socket is closed. */
const MAX_IDLE_PER_NODE = 16;
const MAX_NODES = 1024;
/** Node's http server closes an idle connection after 5 s unless it says otherwise (keep-alive: timeout=N). */
const DEFAULT_IDLE_SECONDS = 5;
/** How long before the node's keep-alive timeout a socket stops being reused. */
const IDLE_MARGIN_MS = 1000;

/** One socket to a node and the call it carries, if any. */
export class NodeConn {
  call: RelayCall | undefined;
  connected = false;
  /** Until when (ms, performance.now()) it may carry another call. */
  until = 0;
  private error: Error | undefined;

  constructor(
    readonly socket: Socket,
    readonly key: string,
  ) {
    socket.on("data", (b: Buffer) => (this.call ? this.call.onBytes(b) : socket.destroy()));
    socket.on("error", (err) => (this.error = err));
    socket.on("close", () => {
      dropIdle(this);
      all.delete(this);
      const c = this.call;
      this.call = undefined;
      c?.onClosed(this.error);
    });
  }
}

const idle = new Map<string, NodeConn[]>();
const all = new Set<NodeConn>();

function keyOf(t: NodeTarget): string {
  return t.ca ? `${t.address}\0${t.ca.toString("base64")}` : t.address;
}

function dropIdle(c: NodeConn): void {
  const list = idle.get(c.key);
  const i = list?.indexOf(c) ?? -1;
  if (i >= 0) list!.splice(i, 1);
  if (list?.length === 0) idle.delete(c.key);
}

/** An idle socket to the node still well inside its keep-alive timeout, or a new one. */
function connFor(t: NodeTarget): NodeConn {
  const key = keyOf(t);
  const list = idle.get(key);
  const now = performance.now();
  while (list && list.length > 0) {
    const c = list.pop()!;
    if (list.length === 0) idle.delete(key);
    if (c.until > now && !c.socket.destroyed) return c;
    c.socket.destroy();
  }
  const { host, port } = splitAddress(t.address);
  const socket = t.ca ? tlsConnect({ host, port, ...tlsOptions(t, host) }) : netConnect({ host, port, noDelay: true });
  if (t.ca) socket.setNoDelay(true);
  const c = new NodeConn(socket, key);
  all.add(c);
  const timer = setTimeout(
    () => socket.destroy(new Error(`no connection within ${CONNECT_TIMEOUT_MS / 1000} s`)),
    CONNECT_TIMEOUT_MS,
  );
  socket.once(t.ca ? "secureConnect" : "connect", () => {
    clearTimeout(timer);
    c.connected = true;
  });
  socket.once("close", () => clearTimeout(timer));
  return c;
}

/** Puts a socket whose call ended cleanly back for the next call (or closes it). */
function release(c: NodeConn, head: AnswerHead): void {
  c.socket.resume();
  if (!head.keepAlive || c.socket.destroyed) return void c.socket.destroy();
  c.until = performance.now() + (head.idleSeconds ?? DEFAULT_IDLE_SECONDS) * 1000 - IDLE_MARGIN_MS;
  let list = idle.get(c.key);
  if (!list) {
    if (idle.size >= MAX_NODES) return void c.socket.destroy();
    idle.set(c.key, (list = []));
  }
  if (list.length >= MAX_IDLE_PER_NODE) return void c.socket.destroy();
  list.push(c);
}

/** Closes every socket to every node (the daemon's close). */
export function closeRelaySockets(): void {
  for (const c of all) c.socket.destroy();
  idle.clear();
}

/** A header name as HTTP allows it, and a value with no line break or NUL (they could smuggle a header). */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const UNSAFE_VALUE = /[\r\n\0]/;

/** The request to the node: head and body, one buffer. */
function requestBytes(t: NodeTarget, call: SmallCall, path: string): Buffer {
  const headers = nodeHeaders(t, call.headers);
  if (call.body !== undefined) headers["content-length"] = String(call.body.byteLength);
  // The fast path built the path from an id and a serialised query; checked anyway, as the head is written by hand.
  if (!TOKEN.test(call.method) || !/^\/[\x21-\x7e]*$/.test(path))
    throw new SbxError("invalid_argument", "the call's method or path cannot be sent on");
  let head = `${call.method} ${path} HTTP/1.1\r\nhost: ${t.address}\r\n`;
  for (const k in headers) {
    const v = headers[k]!;
    if (!TOKEN.test(k) || UNSAFE_VALUE.test(v)) throw new SbxError("invalid_argument", `header ${k} cannot be sent on`);
    head += `${k}: ${v}\r\n`;
  }
  head += "\r\n";
  const bytes = Buffer.from(head, "latin1");
  return call.body === undefined || call.body.byteLength === 0 ? bytes : Buffer.concat([bytes, call.body]);
}

/**
 * Sends `call` to the node at `path` (with query) and writes its answer to `to`, with `head` added to
 * its headers: dispatchAnswer's contract (node-dispatch.ts), on a raw socket. Resolves with the node's
 * status once the head is written; rejects, with nothing written, when the node cannot be reached,
 * refuses the key, closes before answering, answers something malformed, or `watch` says it was lost.
 */
export const relayAnswer: SendAnswer = (t, call, path, to, head, watch) => {
  let bytes: Buffer;
  try {
    bytes = requestBytes(t, call, path);
  } catch (err) {
    return Promise.reject(err as Error);
  }
  return new Promise<number>((resolve, reject) => {
    const c = connFor(t);
    const r = new RelayCall(t, c, to, head, { resolve, reject, reusable: (h) => release(c, h) });
    c.call = r;
    r.parser = new AnswerParser(r, call.method === "HEAD");
    const unwatch = watch((why) =>
      r.fail(new SbxError("node_unavailable", `${why}: try again once it is back`, { node: t.node })),
    );
    if (r.ended) return unwatch();
    r.unwatch = unwatch;
    c.socket.write(bytes);
    r.awaitHead(RELAY_LIMITS.headMs);
  });
};
