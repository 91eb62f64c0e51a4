// The types every route module shares with the app: the hono app with sbx's per-request
// variables, and the WebSocket upgrade hook. Apart from app.ts so routes do not import the app.
import type { NodeWebSocket } from "@hono/node-ws";
import type { OpenAPIHono } from "@hono/zod-openapi";

export type Transport = "unix" | "tcp";
export interface AppEnv {
  Variables: {
    project: string;
    transport: Transport;
    requestId: string;
    /** The bearer token's id (TCP only). */
    tokenId?: string;
  };
}
export type Api = OpenAPIHono<AppEnv>;
/** Turns a route into a WebSocket endpoint (auth and project resolution run first, as for any route). */
export type UpgradeWebSocket = NodeWebSocket["upgradeWebSocket"];
/** The app plus the hook that lets its WebSocket routes take over upgraded connections of a server. */
