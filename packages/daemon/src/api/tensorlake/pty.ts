// Tensorlake PTY sessions and TCP tunnels on sbx's terminal and port services. The PTY WebSocket
// speaks the SDK's opcode framing (first byte of every binary frame): client 0x02 READY, 0x00+bytes
// input, 0x01+u16 cols+u16 rows (big-endian) resize; server 0x00+bytes output, 0x03+i32 exit code,
// then a close with reason `exit:<code>`. A refused upgrade (bad token, unknown session, nothing
// listening) is accepted and then closed with the reason: the SDK crashes its user's process on a
// refused handshake.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { Socket } from "node:net";
import type { Context } from "hono";
import type { WSContext } from "hono/ws";
import { createWebSocketStream, type WebSocket } from "ws";
import { z } from "zod";
import { SbxError, toSbxError } from "@sbx-sh/protocol";
import type { Services } from "../../services/services.js";
import type { Api, AppEnv, UpgradeWebSocket } from "../api-types.js";
import { dial } from "../routes/ports.js";
import { parse, readJson } from "./common.js";
import { refusal, sandboxIdOf } from "./context.js";

const OP_DATA = 0x00;
const OP_RESIZE = 0x01;
const OP_READY = 0x02;
const OP_EXIT = 0x03;
/** Close code of a refused session (an application code: 4000-4999). */
const CLOSE_REFUSED = 4000;

/** Tokens are MACs of sandbox and session under a key of this daemon run: nothing to store, nothing to guess. */
const TOKEN_KEY = randomBytes(32);
export function ptyToken(sandboxId: string, sessionId: string): string {
  return createHmac("sha256", TOKEN_KEY).update(`${sandboxId}/${sessionId}`).digest("base64url");
}
function tokenMatches(given: string, sandboxId: string, sessionId: string): boolean {
  const want = Buffer.from(ptyToken(sandboxId, sessionId));
  const got = Buffer.from(given);
  return got.length === want.length && timingSafeEqual(got, want);
}

const PtyBody = z.object({
  command: z.string().min(1).optional().nullable(),
  args: z.array(z.string()).optional().nullable(),
  env: z.record(z.string(), z.string()).optional().nullable(),
  working_dir: z.string().min(1).optional().nullable(),
  rows: z.number().int().min(1).max(1000).optional().nullable(),
  cols: z.number().int().min(1).max(1000).optional().nullable(),
});

/** Closes a just-accepted WebSocket with the error as its reason (close reasons hold 123 bytes). */
function closeRefused(ws: WSContext, err: unknown): void {
  const e = toSbxError(err);
  ws.close(CLOSE_REFUSED, `${e.code}: ${e.message}`.slice(0, 120));
}

export function registerTlPty(app: Api, s: Services, upgradeWebSocket: UpgradeWebSocket): void {
  const project = (c: Context<AppEnv>) => c.get("project");

  app.post("/api/v1/pty", async (c) => {
    const b = parse(PtyBody, await readJson(c));
    const t = await s.terminals.create(project(c), sandboxIdOf(c), {
      command: b.command ?? undefined,
      args: b.args ?? undefined,
      env: b.env ?? undefined,
      workingDir: b.working_dir ?? undefined,
      cols: b.cols ?? 80,
      rows: b.rows ?? 24,
    });
    return c.json({ session_id: t.id, token: ptyToken(t.sandboxId, t.id) }, 200);
  });

  app.delete("/api/v1/pty/:sid", async (c) => {
    await s.terminals.kill(project(c), sandboxIdOf(c), c.req.param("sid"));
    return c.body(null, 204);
  });

  app.get(
    "/api/v1/pty/:sid/ws",
    upgradeWebSocket(async (c) => {
      const sid = c.req.param("sid") ?? "";
      let refused: unknown = refusal(c);
      let sandbox = "";
      if (!refused)
        try {
          sandbox = (await s.sandboxes.get(project(c), sandboxIdOf(c))).id;
          await s.terminals.get(project(c), sandbox, sid);
          const token = c.req.query("token") ?? c.req.header("x-pty-token") ?? "";
          if (!tokenMatches(token, sandbox, sid))
            throw new SbxError("permission_denied", "the PTY token does not match this session");
        } catch (err) {
          refused = err;
        }
      let session: Awaited<ReturnType<Services["terminals"]["attach"]>> | undefined;
      let closed = false;
      // Settles once attached (after READY): input frames that arrive before wait for it, in order.
      let attached: Promise<void> | undefined;
      const attach = (ws: WSContext): Promise<void> => {
        const raw = ws.raw as WebSocket;
        return s.terminals
          .attach(project(c), sandbox, sid, {
            data: (chunk) => raw.send(Buffer.concat([Buffer.of(OP_DATA), chunk])),
            exit: (code) => {
              const frame = Buffer.alloc(5);
              frame[0] = OP_EXIT;
              frame.writeInt32BE(code, 1);
              raw.send(frame);
              ws.close(1000, `exit:${code}`);
            },
          })
          .then(
            (got) => {
              if (closed) got.detach();
              else session = got;
            },
            (err: unknown) => closeRefused(ws, err),
          );
      };
      const onFrame = (frame: Buffer): void => {
        const op = frame[0];
        if (op === OP_DATA) session?.write(frame.subarray(1));
        else if (op === OP_RESIZE && frame.length >= 5)
          session?.resize(frame.readUInt16BE(1), frame.readUInt16BE(3)).catch(() => undefined);
      };
      return {
        onOpen: (_evt, ws) => {
          if (refused) closeRefused(ws, refused);
        },
        onMessage: (evt, ws) => {
          if (refused || typeof evt.data === "string") return;
          const frame = Buffer.from(evt.data as ArrayBuffer);
          if (frame[0] === OP_READY) attached ??= attach(ws);
          else void (attached ?? Promise.resolve()).then(() => onFrame(frame));
        },
        onClose: () => {
          closed = true;
          session?.detach();
        },
      };
    }),
  );

  app.get(
    "/api/v1/tunnels/tcp",
    upgradeWebSocket(async (c) => {
      let refused: unknown = refusal(c);
      let tcp: Socket | undefined;
      if (!refused)
        try {
          const port = Number(c.req.query("port"));
          if (!Number.isInteger(port) || port < 1 || port > 65535)
            throw new SbxError(
              "out_of_range",
              `port ${JSON.stringify(c.req.query("port"))} is not a TCP port: use 1..65535`,
            );
          const target = await s.ports.target(project(c), sandboxIdOf(c), port);
          tcp = await dial(target.host, target.port, target.sandbox.id);
          s.ports.track(target.sandbox.id, null, tcp);
        } catch (err) {
          refused = err;
        }
      return {
        onOpen: (_evt, ws) => {
          if (refused || !tcp) {
            // The SDK reports text frames as the tunnel's error.
            ws.send(toSbxError(refused).message);
            return closeRefused(ws, refused);
          }
          const sock = tcp;
          const stream = createWebSocketStream(ws.raw as WebSocket);
          stream.on("error", () => sock.destroy());
          sock.on("error", () => stream.destroy());
          sock.pipe(stream).pipe(sock);
          sock.once("close", () => stream.end());
        },
        onClose: () => tcp?.destroy(),
      };
    }),
  );
}
