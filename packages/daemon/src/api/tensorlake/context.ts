// Who a Tensorlake-SDK request is for: the project (from the bearer token, as for sbx's own TCP
// API; a `{ns}` in the path must name that project, or be the SDK's default "default"), and for
// the per-sandbox calls (`/api/v1/...`, which carry no id in the path) the sandbox, named by the
// `X-Tensorlake-Sandbox-Id` header, a `Host: <id>.local` header, or the first label of the host.
import type { Context, MiddlewareHandler } from "hono";
import { SbxError, toSbxError } from "@sbx-sh/protocol";
import type { AppEnv } from "../api-types.js";

/** Auth failures of WebSocket upgrades, which are answered by accepting and then closing. */
const refusedUpgrades = new WeakMap<Request, SbxError>();

export function isUpgrade(c: Context<AppEnv>): boolean {
  return c.req.header("upgrade")?.toLowerCase() === "websocket";
}

export function refusal(c: Context<AppEnv>): SbxError | undefined {
  return refusedUpgrades.get(c.req.raw);
}

export function tlAuth(resolveProject: (c: Context<AppEnv>) => Promise<string>): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    c.set("transport", "tcp");
    try {
      c.set("project", await resolveProject(c));
    } catch (err) {
      // The SDK crashes its user's process on a refused WebSocket handshake: accept, then close with the reason.
      if (!isUpgrade(c)) throw err;
      refusedUpgrades.set(c.req.raw, toSbxError(err));
    }
    await next();
  };
}

/** `{ns}` is the token's project; "default" (the SDK's default namespace) means the token's project too. */
export function checkNamespace(ns: string, project: string): void {
  if (ns === project || ns === "default") return;
  throw new SbxError(
    "permission_denied",
    `namespace ${JSON.stringify(ns)} is not this token's project (${project}): use namespace "${project}" or "default"`,
  );
}

/** The sandbox a per-sandbox call is for. */
export function sandboxIdOf(c: Context<AppEnv>): string {
  const header = c.req.header("x-tensorlake-sandbox-id");
  if (header) return header;
  const host = (c.req.header("host") ?? "").replace(/:\d+$/, "");
  const label = host.split(".")[0] ?? "";
  if (host.endsWith(".local") || /^sb-[a-z0-9]+$/.test(label)) return label;
  throw new SbxError(
    "invalid_argument",
    "no sandbox named: send X-Tensorlake-Sandbox-Id: <id> or Host: <id>.local (the Tensorlake SDK does)",
  );
}
