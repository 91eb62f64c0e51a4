// Helpers the Tensorlake route modules share: request bodies read and checked with a clear coded
// error, and what the routes are given by the app (the advertised sandbox URL).
import type { Context } from "hono";
import type { z } from "zod";
import { SbxError } from "@sbx-sh/protocol";
import type { AppEnv } from "../api-types.js";
import { issueLines } from "../validation-error.js";

export interface TlDeps {
  /** The `sandbox_url` answers advertise: the SDK sends every per-sandbox call there. */
  sandboxUrl(c: Context<AppEnv>): string;
}

/** The JSON body; with `optional`, an empty body is undefined (the SDK sends some POSTs empty). */
export async function readJson(c: Context<AppEnv>, optional = false): Promise<unknown> {
  const text = await c.req.text();
  if (!text.trim()) {
    if (optional) return undefined;
    return {};
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new SbxError("invalid_argument", "invalid request: the body is not JSON");
  }
}

export function parse<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  // The Tensorlake routes answer every schema failure as invalid_argument (both are HTTP 400).
  const issues = issueLines(r.error.issues).lines;
  throw new SbxError("invalid_argument", `invalid request: ${issues.slice(0, 3).join("; ")}`, { issues });
}
