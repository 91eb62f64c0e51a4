// The control plane's port proxy (`sbxd --role control --proxy-listen …`): a request for
// `<port>-<sandboxId>.<domain>` is relayed, as it came (its exposure token included: the node
// checks it), to the port proxy of the node that runs the sandbox, which the node reports when it
// registers; WebSocket and other upgrades are relayed as raw bytes after the request head. Only
// sandboxes the cluster placed are relayed; a lost node is node_unavailable at once. The control
// plane runs no sandboxes, so it serves no port itself.
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { connect } from "node:net";
import type { Duplex } from "node:stream";
import { SbxError, toSbxError } from "@sbx-sh/protocol";
import type { ClusterRouting } from "../cluster/cluster-role.js";
import type { Logger } from "../common/log.js";
import { splitAddress } from "../cluster/node-forward.js";
import { HOP_BY_HOP, refuse, refuseRaw } from "./port-proxy.js";

/** `routing` is filled in once the cluster role has started; until then requests are refused. */
export function createClusterPortRelay(holder: { routing?: ClusterRouting }, domain: string, log: Logger): Server {
  /** host:port of the node's proxy for this request's Host. */
  const nodeProxy = async (host: string | undefined): Promise<{ host: string; port: number }> => {
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
    return splitAddress(at.proxyAddress);
  };

  const server = createServer((req, res) => {
    void nodeProxy(req.headers.host).then(
      (to) => relay(req, res, to),
      (err: unknown) => refuse(res, toSbxError(err)),
    );
  });
  const relay = (req: IncomingMessage, res: ServerResponse, to: { host: string; port: number }): void => {
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v;
    const up = httpRequest({ ...to, method: req.method, path: req.url ?? "/", headers, agent: false });
    up.on("response", (ur) => {
      const out: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(ur.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
      res.writeHead(ur.statusCode ?? 502, out);
      ur.pipe(res);
    });
    up.on("error", (err) => {
      if (res.headersSent) res.destroy();
      else refuse(res, new SbxError("node_unavailable", `the node's port proxy ${to.host}:${to.port}: ${err.message}`));
    });
    req.pipe(up);
    res.on("close", () => up.destroy());
  };

  server.on("upgrade", (req: IncomingMessage, client: Duplex, head: Buffer) => {
    client.on("error", () => undefined);
    void nodeProxy(req.headers.host).then(
      (to) => {
        const up = connect(to);
        up.once("error", (err) =>
          refuseRaw(client, new SbxError("node_unavailable", `the node's port proxy: ${err.message}`)),
        );
        up.once("connect", () => {
          up.removeAllListeners("error");
          up.on("error", () => client.destroy());
          client.on("error", () => up.destroy());
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
  server.headersTimeout = 10_000;
  server.on("clientError", (_err, socket: Duplex) => {
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    else socket.destroy();
  });
  server.on("error", (err) => log.error({ err }, "port relay failed"));
  return server;
}
