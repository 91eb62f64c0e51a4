// Port routes: expose / list / close a sandbox port on the daemon's HTTP proxy, and the TCP
// tunnel: a WebSocket whose binary frames are the bytes of one TCP connection to a sandbox port.
import { connect, type Socket } from "node:net";
import { createRoute } from "@hono/zod-openapi";
import { createWebSocketStream, type WebSocket } from "ws";
import { SbxError } from "@sbx-sh/protocol";
import type { Services } from "../../services/services.js";
import type { Api, UpgradeWebSocket } from "../api-types.js";
import { ExposePortRequest, PortExposure, PortExposureList, PortNumber, PortParams } from "../schemas/ports.js";
import { ErrorBody } from "../schemas/index.js";
import { toPort } from "../mappers/ports.js";
import { json } from "./common.js";
import { SandboxParams } from "./sandboxes.js";

/** The sandbox port must accept the connection within this, or the upgrade is refused with 502. */
const CONNECT_TIMEOUT_MS = 10_000;

export function registerPortRoutes(app: Api, s: Services, upgradeWebSocket: UpgradeWebSocket): void {
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/sandboxes/{id}/ports/{port}",
      summary: "Expose a sandbox port on the daemon's HTTP proxy (idempotent; the token stays)",
      request: {
        params: PortParams,
        body: { content: { "application/json": { schema: ExposePortRequest } }, required: false },
      },
      responses: {
        200: json(PortExposure, "the exposure, with its URL and token"),
        400: json(ErrorBody, "bad port"),
        404: json(ErrorBody, "unknown sandbox"),
        409: json(ErrorBody, "terminated"),
        412: json(ErrorBody, "no network or no proxy"),
      },
    }),
    async (c) => {
      const { id, port } = c.req.valid("param");
      const body = c.req.header("content-type")?.includes("json") ? c.req.valid("json") : {};
      return c.json(toPort(await s.ports.expose(c.get("project"), id, port, body), s.proxy), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/sandboxes/{id}/ports",
      summary: "List a sandbox's exposed ports",
      request: { params: SandboxParams },
      responses: { 200: json(PortExposureList, "exposures by port"), 404: json(ErrorBody, "unknown sandbox") },
    }),
    async (c) =>
      c.json(
        { ports: (await s.ports.list(c.get("project"), c.req.valid("param").id)).map((e) => toPort(e, s.proxy)) },
        200,
      ),
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/sandboxes/{id}/ports/{port}",
      summary: "Close an exposed port: the proxy refuses it from now on",
      request: { params: PortParams },
      responses: {
        200: json(PortExposure, "the removed exposure"),
        404: json(ErrorBody, "unknown sandbox or port not exposed"),
      },
    }),
    async (c) => {
      const { id, port } = c.req.valid("param");
      return c.json(toPort(await s.ports.close(c.get("project"), id, port), s.proxy), 200);
    },
  );

  // Not in openapi.json (a WebSocket); documented in docs/api.md. Auth ran in the /v1/* middleware.
  app.get(
    "/v1/sandboxes/:id/ports/:port/connect",
    upgradeWebSocket(async (c) => {
      if (c.req.header("upgrade")?.toLowerCase() !== "websocket")
        throw new SbxError(
          "invalid_argument",
          "this endpoint is a WebSocket: send an upgrade request (Connection: Upgrade, Upgrade: websocket)",
        );
      const parsed = PortNumber.safeParse(c.req.param("port"));
      if (!parsed.success)
        throw new SbxError(
          "out_of_range",
          `port ${JSON.stringify(c.req.param("port"))} is not a TCP port: use 1..65535`,
        );
      const target = await s.ports.target(c.get("project"), c.req.param("id") ?? "", parsed.data);
      const tcp = await dial(target.host, target.port, target.sandbox.id);
      s.ports.track(target.sandbox.id, null, tcp);
      // Nothing opens the socket if the handshake fails after this point: do not keep it.
      const abandon = setTimeout(() => tcp.destroy(), CONNECT_TIMEOUT_MS);
      return {
        onOpen: (_evt, ws) => {
          clearTimeout(abandon);
          const stream = createWebSocketStream(ws.raw as WebSocket);
          stream.on("error", () => tcp.destroy());
          tcp.on("error", () => stream.destroy());
          tcp.pipe(stream).pipe(tcp);
          // Ended gracefully (a close frame after the last bytes), also when the daemon cut it.
          tcp.once("close", () => stream.end());
        },
        onClose: () => tcp.destroy(),
      };
    }),
  );
}

export function dial(host: string, port: number, sandboxId: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host, port, timeout: CONNECT_TIMEOUT_MS });
    const fail = (why: string) => {
      sock.destroy();
      reject(
        new SbxError(
          "upstream_unreachable",
          `nothing answers on port ${port} of sandbox ${sandboxId} (${why}): start a server listening on 0.0.0.0:${port} inside it`,
          { sandboxId, port },
        ),
      );
    };
    sock.once("connect", () => {
      sock.setTimeout(0);
      sock.removeAllListeners("error");
      resolve(sock);
    });
    sock.once("timeout", () => fail("timed out"));
    sock.once("error", (err: NodeJS.ErrnoException) => fail(err.code ?? err.message));
  });
}
