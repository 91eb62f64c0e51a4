// The control plane's fast path to a node (api/cluster-fast-path.ts): a small forwarded call (its
// body read whole) sent with undici's dispatch on a kept-alive pool per node, and the node's answer
// written straight into the caller's response as it comes. The app's forwarding (node-forward.ts,
// node-answer.ts) does the same over node:http; this one exists because a forwarded exec is a few
// milliseconds, and node:http's client (a ClientRequest, its agent, an IncomingMessage stream and
// their events per call) was the largest share of what the control plane spent on each: dispatch
// hands over the head and each chunk as they are parsed, and nothing else is built per call.
// Same rules as node-forward.ts: the node gets its own key and the project (nodeHeaders), hop-by-hop
// headers are dropped both ways, the answer names its node (x-sbx-node), a node that cannot be
// reached (TCP, or TLS against --node-ca) is node_unavailable, and a 401 is the node refusing this
// control plane's key. The caller going away drops the node's side; the node's side breaking off
// after the head breaks the caller's stream.
import type { IncomingHttpHeaders, ServerResponse } from "node:http";
import { Pool, type Dispatcher } from "undici";
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
import { closeRelaySockets } from "./node-relay.js";

/** Pools by origin and CA: one per node in practice; bounded, the oldest closed first past the bound. */
const pools = new Map<string, Pool>();
const MAX_POOLS = 1024;

function poolFor(t: NodeTarget): Pool {
  const origin = `${t.ca ? "https" : "http"}://${t.address}`;
  const key = t.ca ? `${origin}\0${t.ca.toString("base64")}` : origin;
  let pool = pools.get(key);
  if (!pool) {
    if (pools.size >= MAX_POOLS) {
      // Closed, not destroyed: the calls it carries finish first (a new node must not break the others').
      const [oldest, old] = pools.entries().next().value as [string, Pool];
      pools.delete(oldest);
      void old.close().catch(() => undefined);
    }
    const { host } = splitAddress(t.address);
    pool = new Pool(origin, {
      connect: { timeout: CONNECT_TIMEOUT_MS, noDelay: true, ...tlsOptions(t, host) },
      // One call at a time per connection (no pipelining: a slow answer must not hold up the next).
      pipelining: 1,
    });
    pools.set(key, pool);
  }
  return pool;
}

/** Closes every pool's connections, and the exec relay's sockets (the daemon's close). */
export async function closeNodePools(): Promise<void> {
  closeRelaySockets();
  const all = [...pools.values()];
  pools.clear();
  await Promise.all(all.map((p) => p.destroy().catch(() => undefined)));
}

/** The caller's call as the fast path has it: the request's method and head, its body read whole. */
export interface SmallCall {
  method: string;
  headers: IncomingHttpHeaders;
  /** undefined: no body (GET). */
  body: Uint8Array | undefined;
}

/** A call to a node whose answer is written to the caller's response: dispatchAnswer's shape (and node-relay.ts's). */
export type SendAnswer = typeof dispatchAnswer;

/**
 * Sends `call` to the node at `path` (with query) and writes its answer to `to`, with `head` added
 * to its headers. Resolves with the node's status once the head is written (the body then streams
 * on); rejects, with nothing written, when the node cannot be reached, refuses the key, or `watch`
 * says it was lost first. `watch(onLost)` registers the call with the node's lease watch and
 * answers its unregistration, which runs once when the call ended either way.
 */
export function dispatchAnswer(
  t: NodeTarget,
  call: SmallCall,
  path: string,
  to: ServerResponse,
  head: Record<string, string>,
  watch: (onLost: (why: string) => void) => () => void,
): Promise<number> {
  const headers = nodeHeaders(t, call.headers);
  if (call.body !== undefined) headers["content-length"] = String(call.body.byteLength);
  return new Promise<number>((resolve, reject) => {
    let abort: ((err: Error) => void) | undefined;
    let answered = false;
    let ended = false;
    let resumeNode: (() => void) | undefined;
    const unwatch = watch((why) => {
      fail(new SbxError("node_unavailable", `${why}: try again once it is back`, { node: t.node }));
    });
    const end = (): void => {
      if (ended) return;
      ended = true;
      unwatch();
      to.off("drain", onDrain);
      to.off("close", onCallerGone);
    };
    /** Ends the call: before the head, as a refusal for the caller; after it, a broken stream. */
    const fail = (err: Error): void => {
      if (ended) return;
      end();
      abort?.(err);
      if (answered) to.destroy(err);
      else reject(err);
    };
    const onDrain = (): void => resumeNode?.();
    const onCallerGone = (): void => {
      if (!to.writableFinished) fail(new Error("the caller went away"));
    };
    to.on("drain", onDrain);
    to.once("close", onCallerGone);
    // Written corked until the loop's check phase: a chunk and the answer's end that come in one
    // read go out in one write.
    let corked = false;
    const uncork = (): void => {
      corked = false;
      to.uncork();
    };
    const handler: Dispatcher.DispatchHandler = {
      onConnect(abortCall) {
        abort = abortCall as (err: Error) => void;
        // Lost (or the caller gone) before the call was even handed to a connection.
        if (ended) abort(new Error("ended"));
      },
      onHeaders(status, raw, resume) {
        if (ended) return false;
        if (status === 401) {
          fail(keyRefused(t));
          return false;
        }
        resumeNode = resume;
        const out: Record<string, string | string[]> = {};
        for (let i = 0; i + 1 < raw.length; i += 2) {
          const k = raw[i]!.toString("latin1").toLowerCase();
          if (!passedOn(k)) continue;
          const v = raw[i + 1]!.toString("latin1");
          const had = out[k];
          out[k] = had === undefined ? v : [had, v].flat();
        }
        out["x-sbx-node"] = t.node;
        answered = true;
        to.writeHead(status, Object.assign(out, head));
        resolve(status);
        if (call.method === "HEAD" || status === 204 || status === 304) {
          // No body whatever the node sends: the caller's answer ends here.
          end();
          to.end();
        }
        return true;
      },
      onData(chunk) {
        if (ended || to.destroyed) return true;
        if (!corked) {
          corked = true;
          to.cork();
          setImmediate(uncork);
        }
        return to.write(chunk);
      },
      onComplete() {
        if (ended) return;
        end();
        to.end();
      },
      onError(err) {
        if (ended) return;
        fail(answered ? err : err instanceof SbxError ? err : unreachable(t, err.message, err));
      },
    };
    const body =
      call.body === undefined ? null : Buffer.from(call.body.buffer, call.body.byteOffset, call.body.byteLength);
    poolFor(t).dispatch({ path, method: call.method as Dispatcher.HttpMethod, headers, body }, handler);
  });
}
