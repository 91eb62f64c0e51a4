// The dashboard's way in on the TCP listener: a session cookie (HttpOnly, SameSite=Strict) instead
// of a bearer token. A request that carries the cookie must come from the daemon's own origin (the
// Origin header, sent by browsers on every cross-origin request and WebSocket upgrade), and a
// state-changing one must also carry the session's CSRF token in X-Sbx-Csrf, which a page of
// another origin cannot read. A bearer token, when present, wins and needs none of this.
import type { Context } from "hono";
import { getCookie } from "hono/cookie";
import { SbxError } from "@sbx-sh/protocol";
import type { UiSession, UiSessions } from "../services/ui-sessions.js";
import type { AppEnv } from "./api-types.js";

export const SESSION_COOKIE = "sbx_session";
export const CSRF_HEADER = "x-sbx-csrf";

/** An Origin header names this daemon when its host:port is the one the request was sent to. */
export function sameOrigin(c: Context<AppEnv>): boolean {
  const origin = c.req.header("origin");
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === c.req.header("host");
  } catch {
    return false;
  }
}

/** The session of the request's cookie (checked as above), or undefined when it sends no cookie. */
export function cookieSession(c: Context<AppEnv>, sessions: UiSessions): UiSession | undefined {
  const id = getCookie(c, SESSION_COOKIE);
  if (id === undefined) return undefined;
  const s = sessions.get(id);
  if (!s)
    throw new SbxError("unauthenticated", "the dashboard session is not valid (expired or signed out): sign in again");
  if (!sameOrigin(c)) throw new SbxError("permission_denied", "a request from another origin was refused");
  if (c.req.method !== "GET" && c.req.method !== "HEAD" && !sessions.csrfMatches(s, c.req.header(CSRF_HEADER)))
    throw new SbxError("permission_denied", "missing or wrong CSRF token (X-Sbx-Csrf): reload the dashboard");
  return s;
}
