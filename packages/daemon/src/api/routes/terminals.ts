// Terminal routes: open, list, get, resize, kill, and the WebSocket that attaches to a terminal
// (binary frames are the terminal's raw bytes both ways; text frames are JSON control messages:
// {"type":"resize","cols","rows"} from the client, {"type":"exit","exitCode"} and
// {"type":"error","error":{code,message}} from the server).
import { createRoute, z } from "@hono/zod-openapi";
import type { WSContext } from "hono/ws";
import type { WebSocket } from "ws";
import { SbxError, toSbxError } from "@sbx-sh/protocol";
import type { Services } from "../../services/services.js";
import type { Api, UpgradeWebSocket } from "../api-types.js";
import { CreateTerminalRequest, ErrorBody, ResizeTerminalRequest, Terminal, TerminalList } from "../schemas/index.js";
import { toTerminal } from "../mappers/terminals.js";
import { json, jsonBody } from "./common.js";
import { SandboxParams } from "./sandboxes.js";

const TermParams = SandboxParams.extend({ tid: z.string().min(1).max(64) });
/** Output queued for one slow client beyond this is dropped with its connection; it can attach again. */
const MAX_CLIENT_BACKLOG = 4 * 1024 * 1024;
export const CLOSE_TOO_SLOW = 4008;
export const CLOSE_ERROR = 4000;

export function registerTerminalRoutes(app: Api, s: Services, upgradeWebSocket: UpgradeWebSocket): void {
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/sandboxes/{id}/terminals",
      summary: "Open a terminal: a program on a pseudo-terminal of cols x rows; attach to it over WebSocket",
      request: { params: SandboxParams, ...jsonBody(CreateTerminalRequest) },
      responses: {
        201: json(Terminal, "opened"),
        404: json(ErrorBody, "unknown sandbox"),
        409: json(ErrorBody, "sandbox not running"),
        412: json(ErrorBody, "too many terminals"),
      },
    }),
    async (c) =>
      c.json(toTerminal(await s.terminals.create(c.get("project"), c.req.valid("param").id, c.req.valid("json"))), 201),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/sandboxes/{id}/terminals",
      summary: "List terminals (running, and exited ones for a few minutes)",
      request: { params: SandboxParams },
      responses: { 200: json(TerminalList, "terminals") },
    }),
    async (c) =>
      c.json({ terminals: (await s.terminals.list(c.get("project"), c.req.valid("param").id)).map(toTerminal) }, 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/sandboxes/{id}/terminals/{tid}",
      summary: "Get a terminal",
      request: { params: TermParams },
      responses: { 200: json(Terminal, "terminal"), 404: json(ErrorBody, "unknown") },
    }),
    async (c) => {
      const { id, tid } = c.req.valid("param");
      return c.json(toTerminal(await s.terminals.get(c.get("project"), id, tid)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/sandboxes/{id}/terminals/{tid}/resize",
      summary: "Set the terminal's size (the program gets SIGWINCH)",
      request: { params: TermParams, ...jsonBody(ResizeTerminalRequest) },
      responses: { 200: json(Terminal, "resized"), 404: json(ErrorBody, "unknown") },
    }),
    async (c) => {
      const { id, tid } = c.req.valid("param");
      const { cols, rows } = c.req.valid("json");
      return c.json(toTerminal(await s.terminals.resize(c.get("project"), id, tid, cols, rows)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/sandboxes/{id}/terminals/{tid}",
      summary: "Kill the terminal's program (SIGKILL); answers once it has ended",
      request: { params: TermParams },
      responses: { 200: json(Terminal, "ended"), 404: json(ErrorBody, "unknown") },
    }),
    async (c) => {
      const { id, tid } = c.req.valid("param");
      return c.json(toTerminal(await s.terminals.kill(c.get("project"), id, tid)), 200);
    },
  );

  // Described in openapi.json as far as it can describe a WebSocket; the protocol is in docs/api.md.
  app.openAPIRegistry.registerPath({
    method: "get",
    path: "/v1/sandboxes/{id}/terminals/{tid}/attach",
    summary:
      "Attach over WebSocket: binary frames are the terminal's bytes both ways; text frames are JSON control (resize; exit, error)",
    description:
      "Replays the last 64 KiB of output first. A refused upgrade carries only its status: GET the terminal for the error.",
    request: { params: TermParams },
    responses: {
      101: { description: "switched to WebSocket" },
      400: json(ErrorBody, "not a WebSocket request"),
      404: json(ErrorBody, "unknown sandbox or terminal"),
    },
  });
  app.get(
    "/v1/sandboxes/:id/terminals/:tid/attach",
    upgradeWebSocket(async (c) => {
      const project = c.get("project");
      const { id, tid } = c.req.param() as { id: string; tid: string };
      // Refused here, before the upgrade, when the terminal is not this project's (before anything else is said about it).
      await s.terminals.get(project, id, tid);
      if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
        throw new SbxError(
          "invalid_argument",
          "attach is a WebSocket endpoint: connect with `Upgrade: websocket` (the SDK's attachTerminal or `sbx shell --attach` do)",
        );
      }
      let session: Awaited<ReturnType<Services["terminals"]["attach"]>> | undefined;
      // Settles once attached (or refused): frames that arrive before wait for it, in order.
      let attached: Promise<void> = Promise.resolve();
      let closed = false;
      return {
        onOpen(_evt, ws) {
          const raw = ws.raw as WebSocket;
          attached = s.terminals
            .attach(project, id, tid, {
              data(chunk) {
                if (raw.bufferedAmount > MAX_CLIENT_BACKLOG) {
                  session?.detach();
                  ws.close(CLOSE_TOO_SLOW, "client too slow: attach again to catch up");
                  return;
                }
                raw.send(chunk);
              },
              exit(exitCode) {
                ws.send(JSON.stringify({ type: "exit", exitCode }));
                ws.close(1000, "exited");
              },
            })
            .then(
              (got) => {
                if (closed) got.detach();
                else session = got;
              },
              (err: unknown) => {
                // The terminal went away between the check above and now.
                const e = toSbxError(err);
                ws.send(JSON.stringify({ type: "error", error: e.toJSON() }));
                ws.close(CLOSE_ERROR, e.code);
              },
            );
        },
        onMessage(evt, ws) {
          void attached.then(() => onFrame(evt, ws));
        },
        onClose() {
          closed = true;
          session?.detach();
        },
      };
      function onFrame(evt: MessageEvent, ws: WSContext): void {
        if (!session) return;
        if (typeof evt.data !== "string") {
          session.write(Buffer.from(evt.data as ArrayBuffer));
          return;
        }
        // A wrong control message gets an error frame; the session goes on.
        const reply = (err: unknown): void =>
          ws.send(JSON.stringify({ type: "error", error: toSbxError(err).toJSON() }));
        let msg: { type?: unknown; cols?: unknown; rows?: unknown };
        try {
          msg = JSON.parse(evt.data) as typeof msg;
        } catch {
          return reply(
            new SbxError(
              "invalid_argument",
              'a text frame must be JSON, e.g. {"type":"resize","cols":80,"rows":24}; send input as binary frames',
            ),
          );
        }
        if (msg?.type !== "resize")
          return reply(
            new SbxError(
              "invalid_argument",
              `unknown control message type ${JSON.stringify(msg?.type)}: the only one is "resize"`,
            ),
          );
        session.resize(Number(msg.cols), Number(msg.rows)).catch(reply);
      }
    }),
  );
}
