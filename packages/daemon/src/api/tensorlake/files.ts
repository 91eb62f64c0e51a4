// Tensorlake per-sandbox file routes (`/api/v1/files...`) on sbx's file service: same verbs and
// query, raw bytes both ways; a listing reshaped to `{path, entries:[{name, is_dir, size, modified_at}]}`.
import type { Context } from "hono";
import { SbxError } from "@sbx-sh/protocol";
import type { Services } from "../../services/services.js";
import type { Api, AppEnv } from "../api-types.js";
import { bodyStream } from "../body-limits.js";
import { whileCallerStays } from "../caller-signal.js";
import { fileAnswer } from "../file-answer.js";
import { sandboxIdOf } from "./context.js";
import { MAX_PAGE_ENTRIES } from "../../domain/directory-pages.js";

function pathOf(c: Context<AppEnv>): string {
  const path = c.req.query("path");
  if (!path) throw new SbxError("invalid_argument", "invalid request: the query parameter `path` is required");
  return path;
}

export function registerTlFiles(app: Api, s: Services): void {
  app.get("/api/v1/files", (c) =>
    whileCallerStays(c, async (signal) => {
      return fileAnswer(c, await s.files.read(c.get("project"), sandboxIdOf(c), pathOf(c), signal));
    }),
  );

  app.put("/api/v1/files", async (c) => {
    await s.files.write(c.get("project"), sandboxIdOf(c), pathOf(c), bodyStream(c.req.raw));
    return c.body(null, 204);
  });

  app.delete("/api/v1/files", async (c) => {
    await s.files.remove(c.get("project"), sandboxIdOf(c), pathOf(c), false);
    return c.body(null, 204);
  });

  app.get("/api/v1/files/list", async (c) => {
    const path = pathOf(c);
    // Tensorlake's listing has no pages: it gets the first MAX_PAGE_ENTRIES names (and `truncated`).
    const page = await s.files.list(c.get("project"), sandboxIdOf(c), path, { limit: MAX_PAGE_ENTRIES });
    const entries = page.entries;
    return c.json(
      {
        path,
        entries: entries.map((e) => ({
          name: e.name,
          is_dir: e.type === "directory",
          size: e.size,
          modified_at: e.modifiedAt,
        })),
        ...(page.nextCursor ? { truncated: true } : {}),
      },
      200,
    );
  });
}
