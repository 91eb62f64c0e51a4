// A TCP connection to a sandbox port through the daemon: the WebSocket endpoint
// GET /v1/sandboxes/{id}/ports/{port}/connect (binary frames = the connection's bytes), as a Duplex.
import type { Duplex } from "node:stream";
import { checkPort, apiPath, SbxError, type ErrorCode } from "@sbx-sh/protocol";
import type { Transport } from "./transport.js";

/** The daemon refuses an upgrade with a bare status (no body): the code it stands for here. */
const UPGRADE_STATUS: Record<number, ErrorCode> = {
  400: "invalid_argument",
  401: "unauthenticated",
  403: "permission_denied",
  404: "sandbox_not_found",
  409: "sandbox_not_running",
  412: "failed_precondition",
  502: "upstream_unreachable",
  503: "daemon_unavailable",
};

/** Opens the connection; resolves once the sandbox port accepted it, so errors surface here. */
export async function openPortStream(transport: Transport, sandboxId: string, port: number): Promise<Duplex> {
  // Checked here as the daemon does: its refusal of an upgrade carries only a status.
  checkPort(port);
  const { createWebSocketStream } = await import("ws");
  const ws = await transport.webSocket(apiPath("portConnect", { id: sandboxId, port }));
  // No await from here until the listeners are on: a fast handshake would otherwise open unheard.
  return new Promise((resolve, reject) => {
    ws.once("open", () => {
      ws.removeAllListeners("error");
      resolve(createWebSocketStream(ws));
    });
    ws.once("unexpected-response", (_req, res) => {
      const status = res.statusCode ?? 0;
      const code = UPGRADE_STATUS[status] ?? "internal";
      const why: Partial<Record<ErrorCode, string>> = {
        sandbox_not_found: `sandbox ${sandboxId} does not exist in this project`,
        sandbox_not_running: `sandbox ${sandboxId} is not running`,
        upstream_unreachable: `nothing answers on port ${port} of sandbox ${sandboxId}: start a server listening on 0.0.0.0:${port} inside it`,
        failed_precondition: `sandbox ${sandboxId} has no network, so its ports cannot be reached`,
        invalid_argument: `port ${port} is not a TCP port (1..65535)`,
      };
      reject(
        new SbxError(
          code,
          `cannot connect to port ${port} of sandbox ${sandboxId}: ${why[code] ?? `sbxd answered HTTP ${status}`}`,
          { status },
        ),
      );
      res.resume();
      ws.terminate();
    });
    ws.once("error", (err) => reject(transport.connectionError(err)));
  });
}
