// A file read as an HTTP answer: its bytes streamed as the sandbox gives them, paused while the
// caller is behind (routes/web-body.ts), with Content-Length when the size is known up front. A read
// that fails after it began (the file shrank, the agent misbehaved, the read idled) breaks the
// answer off: the caller sees a body shorter than announced or an unfinished chunked one, never one
// that looks complete.
import type { Context } from "hono";
import type { FileContent } from "../runtime/file-content.js";
import type { AppEnv } from "./api-types.js";
import { outgoingOf } from "./ndjson-out.js";
import { webBody } from "./routes/web-body.js";

export function fileAnswer(c: Context<AppEnv>, content: FileContent): Response {
  const headers: Record<string, string> = { "content-type": "application/octet-stream" };
  if (content.size !== undefined) headers["content-length"] = String(content.size);
  return new Response(webBody(content.stream, outgoingOf(c)), { status: 200, headers });
}
