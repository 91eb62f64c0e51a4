// The control plane's port proxy (`sbxd --role control --proxy-listen …`): a request for
// `<port>-<sandboxId>.<domain>` is relayed, as it came (its exposure token included: the node
// checks it), to the port proxy of the node that runs the sandbox, which the node reports when it
// registers; WebSocket and other upgrades are relayed as raw bytes after the request head. Only
// sandboxes the cluster placed are relayed; a lost node is node_unavailable at once. The control
// plane runs no sandboxes, so it serves no port itself.
// With --node-ca the node's port proxy is reached over TLS (nodes serve it with their
// --tls-cert/--tls-key) and verified like the node's API (node-forward.ts's options and errors).
// The listener has the port proxy's own limits (per-client connection cap, header and keep-alive
// timeouts); a node's proxy must accept within the node calls' connect timeout, and a relayed
// connection on which nothing moves for `idleMs` is closed, so a frozen node holds no fds here.
import {
  createServer,
  request as httpRequest,
  type ClientRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { request as httpsRequest } from "node:https";
import { connect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type { Duplex } from "node:stream";
import { SbxError, toSbxError } from "@sbx-sh/protocol";
import type { ClusterRouting } from "../cluster/cluster-role.js";
import type { Logger } from "../common/log.js";
import { CONNECT_TIMEOUT_MS, splitAddress, tlsOptions, unreachable } from "../cluster/node-target.js";
import { applyProxyLimits, HOP_BY_HOP, MAX_CONNECTIONS_PER_CLIENT, refuse, refuseRaw } from "./port-proxy.js";

/** A relayed request or upgraded connection with no bytes either way for this long is closed. */
export const RELAY_IDLE_MS = 10 * 60_000;

export interface RelayLimits {
  maxPerClient?: number;
  connectMs?: number;
  idleMs?: number;
}

/** Where a request goes: the node, its proxy's address, and the CA its certificate must verify against. */
interface NodeProxy {
  node: string;
  address: string;
  host: string;
  port: number;
  ca?: Buffer;
}

/** `routing` is filled in once the cluster role has started; until then requests are refused. */
export function createClusterPortRelay(
  holder: { routing?: ClusterRouting },
  domain: string,
  log: Logger,
  limits: RelayLimits = {},
): Server {
  const connectMs = limits.connectMs ?? CONNECT_TIMEOUT_MS;
  const idleMs = limits.idleMs ?? RELAY_IDLE_MS;
  const nodeProxy = async (host: string | undefined): Promise<NodeProxy> => {
    const m = /^(\d{1,5})-([a-z0-9-]{1,128})\.(.+?)\.?(?::\d+)?$/.exec((host ?? "").toLowerCase());
    if (!m || m[3] !== domain)
      throw new SbxError(
        "not_found",
        `no sandbox port is served at ${JSON.stringify(host ?? "")}: exposed ports are at <port>-<sandboxId>.${domain}`,
      );
    const routing = holder.routing;
    if (!routing) throw new SbxError("daemon_unavailable", "the control plane is starting: try again");
    const at = await routing.directory.locateId(m[2]!);
    if (!at) throw new SbxError("not_found", `no sandbox ${m[2]} in this cluster`);
    if (at.unavailable) throw new SbxError("node_unavailable", `sandbox ${at.sandboxId}: ${at.unavailable}`);
    if (!at.proxyAddress)
      throw new SbxError("node_unavailable", `sandbox ${at.sandboxId}: its node ${at.node} runs no port proxy`);
    return {
      node: at.node,
      address: at.proxyAddress,
      ...splitAddress(at.proxyAddress),
      ...(routing.nodeCa ? { ca: routing.nodeCa } : {}),
    };
  };
  const failure = (to: NodeProxy, err: Error): SbxError =>
    unreachable(to, `its port proxy ${to.address}: ${err.message}`, err);

  /** Bounds connecting (TCP, and the TLS handshake with a CA): a node that never accepts is an error, not a hang. */
  const boundConnect = (socket: Socket, destroy: (err: Error) => void): void => {
    const timer = setTimeout(() => destroy(new Error(`no connection in ${connectMs} ms`)), connectMs);
    const done = (): void => clearTimeout(timer);
    if (!socket.connecting && !("encrypted" in socket)) return done();
    socket.once("encrypted" in socket ? "secureConnect" : "connect", done);
    socket.once("close", done);
  };

  const server = createServer((req, res) => {
    void nodeProxy(req.headers.host).then(
      (to) => relay(req, res, to),
      (err: unknown) => refuse(res, toSbxError(err)),
    );
  });
  const relay = (req: IncomingMessage, res: ServerResponse, to: NodeProxy): void => {
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v;
    const options = { host: to.host, port: to.port, method: req.method, path: req.url ?? "/", headers, agent: false };
    const up: ClientRequest = to.ca ? httpsRequest({ ...options, ...tlsOptions(to, to.host) }) : httpRequest(options);
    up.once("socket", (s: Socket) => boundConnect(s, (err) => up.destroy(err)));
    up.setTimeout(idleMs, () => up.destroy(new Error(`nothing moved for ${idleMs} ms`)));
    up.on("response", (ur) => {
      const out: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(ur.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
      res.writeHead(ur.statusCode ?? 502, out);
      ur.pipe(res);
    });
    up.on("error", (err) => {
      if (res.headersSent) res.destroy();
      else refuse(res, failure(to, err));
    });
    req.pipe(up);
    res.on("close", () => up.destroy());
  };

  server.on("upgrade", (req: IncomingMessage, client: Duplex, head: Buffer) => {
    client.on("error", () => undefined);
    void nodeProxy(req.headers.host).then(
      (to) => {
        const up: Socket = to.ca
          ? tlsConnect({ host: to.host, port: to.port, ...tlsOptions(to, to.host) })
          : connect({ host: to.host, port: to.port });
        boundConnect(up, (err) => up.destroy(err));
        up.once("error", (err) => refuseRaw(client, failure(to, err)));
        up.once(to.ca ? "secureConnect" : "connect", () => {
          up.removeAllListeners("error");
          up.on("error", () => client.destroy());
          client.on("error", () => up.destroy());
          // Both sides idle (bytes either way reset it): a frozen node or a vanished client frees both.
          up.setTimeout(idleMs, () => {
            up.destroy();
            client.destroy();
          });
          // The head as the client sent it (rawHeaders keeps order and repeats), then bytes both ways.
          const lines = [`${req.method} ${req.url ?? "/"} HTTP/1.1`];
          for (let i = 0; i < req.rawHeaders.length; i += 2)
            lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
          up.write(lines.join("\r\n") + "\r\n\r\n");
          if (head.length) up.write(head);
          up.pipe(client).pipe(up);
          up.once("close", () => client.end());
        });
      },
      (err: unknown) => refuseRaw(client, toSbxError(err)),
    );
  });
  applyProxyLimits(server, limits.maxPerClient ?? MAX_CONNECTIONS_PER_CLIENT);
  server.on("error", (err) => log.error({ err }, "port relay failed"));
  return server;
}
