// The web dashboard on the TCP listener (`sbxd --listen-tcp H:P --ui`): sign-in and sign-out
// (a project token exchanged for a session cookie and a CSRF token), and the built single-page
// app from dist/ui (made by the package build with Vite), whose hashed asset names are cached for
// a year and whose index is revalidated every time. No token is ever read from a URL.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { extname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "@hono/zod-openapi";
import { deleteCookie, setCookie } from "hono/cookie";
import { SbxError } from "@sbx-sh/protocol";
import type { ProjectService } from "../services/project-service.js";
import type { UiSessions } from "../services/ui-sessions.js";
import type { Api } from "./api-types.js";
import { cookieSession, sameOrigin, SESSION_COOKIE } from "./ui-auth.js";

/** Where the package build puts the bundle: dist/ui beside dist/*.js, the same from src/ (tests). */
export const UI_DIR = fileURLToPath(new URL("../../dist/ui/", import.meta.url));

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".woff2": "font/woff2",
};

const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
};

const SignIn = z.object({ token: z.string().min(1).max(512) });

/** Every file of the bundle, read once: only these paths are ever answered (no path from a URL reaches the disk). */
function loadBundle(dir: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else files.set(relative(dir, p).split("\\").join("/"), readFileSync(p));
    }
  };
  try {
    walk(dir);
  } catch {
    /* not built: the index answers 503 below */
  }
  return files;
}

export function registerUiRoutes(
  app: Api,
  deps: { projects: ProjectService; sessions: UiSessions },
  dir = UI_DIR,
): void {
  const bundle = loadBundle(dir);

  app.post("/ui/session", async (c) => {
    if (!sameOrigin(c)) throw new SbxError("permission_denied", "a sign-in from another origin was refused");
    const parsed = SignIn.safeParse(await c.req.json().catch(() => null));
    if (!parsed.success) throw new SbxError("invalid_argument", 'send {"token": "<project token>"}');
    const who = await deps.projects.identify(parsed.data.token);
    if (!who) throw new SbxError("unauthenticated", "that token is not valid: check it and try again");
    const s = deps.sessions.create(who.project, who.tokenId);
    setCookie(c, SESSION_COOKIE, s.id, {
      httpOnly: true,
      sameSite: "Strict",
      path: "/",
      maxAge: deps.sessions.ttl,
      secure: new URL(c.req.url).protocol === "https:",
    });
    return c.json({ project: who.project, tokenId: who.tokenId, csrf: s.csrf }, 201);
  });

  app.get("/ui/session", (c) => {
    const s = cookieSession(c, deps.sessions);
    if (!s) throw new SbxError("unauthenticated", "not signed in");
    return c.json({ project: s.project, tokenId: s.tokenId, csrf: s.csrf }, 200);
  });

  app.delete("/ui/session", (c) => {
    const s = cookieSession(c, deps.sessions);
    if (s) deps.sessions.revoke(s.id);
    deleteCookie(c, SESSION_COOKIE, { path: "/" });
    return c.body(null, 204);
  });

  app.get("/", (c) => c.redirect("/ui/", 302));
  app.get("/ui", (c) => c.redirect("/ui/", 302));
  app.get("/ui/*", (c) => {
    const path = c.req.path.slice("/ui/".length);
    const asset = path.startsWith("assets/") ? bundle.get(path) : undefined;
    if (asset) {
      const type = TYPES[extname(path)] ?? "application/octet-stream";
      return c.body(new Uint8Array(asset), 200, {
        ...SECURITY_HEADERS,
        "content-type": type,
        "cache-control": "public, max-age=31536000, immutable",
      });
    }
    if (path.startsWith("assets/")) return c.text("not found", 404);
    const index = bundle.get("index.html");
    if (!index)
      return c.text("the dashboard is not built: run `npm run build` in the sbx checkout, then restart sbxd", 503);
    return c.body(new Uint8Array(index), 200, {
      ...SECURITY_HEADERS,
      "content-type": TYPES[".html"]!,
      "cache-control": "no-cache",
    });
  });
}
