// What a call from the control plane to a node is addressed to (NodeTarget), and the rules every
// such call shares, whichever way it is sent (node-forward.ts's streams and WebSockets,
// node-dispatch.ts's undici, node-relay.ts's raw socket): the caller's hop-by-hop headers and
// credentials never go on, the node gets its own key and the project instead; TLS against the
// control plane's --node-ca for the node's own host; and how a node that cannot be reached, or
// refuses this control plane's key, is said to the caller.
import type { IncomingHttpHeaders } from "node:http";
import { isIP } from "node:net";
import { SbxError } from "@sbx-sh/protocol";
import { isCertVerifyError } from "../common/tls-errors.js";

export interface NodeTarget {
  node: string;
  /** host:port of the node's API. */
  address: string;
  /** This node's key (node-key.ts): the only bearer its API accepts. */
  key: string;
  project: string;
  /** PEM CA(s) the node's certificate must verify against: TLS (https, wss); absent: plain HTTP. */
  ca?: Buffer;
  /** Headers the call sets itself (after the caller's are filtered), e.g. the Host a Tensorlake answer names. */
  extraHeaders?: Record<string, string>;
}

/** Not passed on: hop-by-hop headers, and the caller's own credentials (they stay on the control plane). */
const DROPPED = new Set([
  "host",
  "authorization",
  "cookie",
  "connection",
  "keep-alive",
  "upgrade",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "x-sbx-project",
  "sec-websocket-key",
  "sec-websocket-version",
  "sec-websocket-extensions",
]);
/** Whether a header (lowercase name) of a call or answer is passed on between the caller and a node. */
export function passedOn(name: string): boolean {
  return !DROPPED.has(name);
}

/** How long connecting to a node (TCP and, with --node-ca, the TLS handshake) may take (the port relay's too). */
export const CONNECT_TIMEOUT_MS = 3000;

export function nodeHeaders(t: NodeTarget, from?: Headers | IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  // A web request's headers, or the HTTP server's own (api/cluster-fast-path.ts), joined as Headers joins them.
  if (from instanceof Headers)
    from.forEach((v, k) => {
      if (!DROPPED.has(k)) out[k] = v;
    });
  else if (from)
    // A plain loop (own keys only): every exec through the control plane comes here, and Object.entries with a
    // [v].flat() per header took ~15 µs a call where this takes ~1.
    for (const k of Object.keys(from)) {
      const v = from[k];
      if (v !== undefined && !DROPPED.has(k.toLowerCase())) out[k] = typeof v === "string" ? v : v.join(", ");
    }
  Object.assign(out, t.extraHeaders);
  out.authorization = `Bearer ${t.key}`;
  out["x-sbx-project"] = t.project;
  return out;
}

/** TLS options for a node: verified against the CA for the node's own host (not the Host header; the port relay's too). */
export function tlsOptions(t: Pick<NodeTarget, "ca">, host: string): Record<string, unknown> {
  // An IP address is checked against the certificate's IP SANs; SNI carries host names only.
  return t.ca ? { ca: t.ca, servername: isIP(host) ? "" : host, minVersion: "TLSv1.2" } : {};
}

/** host:port (IPv6 in brackets) as its parts. */
export function splitAddress(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(":");
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ""), port: Number(address.slice(i + 1)) };
}

/** Why a node could not be reached, TLS failures said as such (`address`: whichever of its listeners was called). */
export function unreachable(t: Pick<NodeTarget, "node" | "address" | "ca">, why: string, err?: Error): SbxError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? "";
  if (t.ca && isCertVerifyError(code))
    return new SbxError(
      "node_unavailable",
      `node ${t.node} (${t.address}) is refused: its TLS certificate does not verify against the control plane's --node-ca (${code}: ${why})`,
      { node: t.node, reason: "tls_verify_failed" },
    );
  if (t.ca && (code === "EPROTO" || code.startsWith("ERR_SSL")))
    return new SbxError(
      "node_unavailable",
      `node ${t.node} (${t.address}) is refused: the TLS handshake failed (${why}); with --node-ca every node must serve TLS (--tls-cert/--tls-key)`,
      { node: t.node, reason: "tls_handshake_failed" },
    );
  return new SbxError("node_unavailable", `node ${t.node} (${t.address}) is unreachable: ${why}; try again later`, {
    node: t.node,
  });
}

/** A node's 401: this control plane's key for it was refused (the caller is authenticated here). */
export function keyRefused(t: Pick<NodeTarget, "node" | "address">): SbxError {
  return new SbxError(
    "node_unavailable",
    `node ${t.node} (${t.address}) refused this control plane's key for it: it has not registered since it started, or it holds another control plane's key; try again once it has registered`,
    { node: t.node, reason: "node_key_refused" },
  );
}
