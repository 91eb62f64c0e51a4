// A file read as an HTTP answer: its bytes streamed as the sandbox gives them, with Content-Length
// when the size is known up front. Under the HTTP server they are piped straight into its response
// (the head going out with the first bytes), paused while the caller is behind; no web stream in
// between, which cost a promise and a reader turn per 64 KiB chunk. A read that fails after it began
// (the file shrank, the agent misbehaved, the read idled) breaks the answer off: the caller sees a
// body shorter than announced or an unfinished chunked one, never one that looks complete. A caller
// that goes away destroys the stream, which stops the read in the sandbox.
import { pipeline } from "node:stream";
import type { Context } from "hono";
import type { FileContent } from "../runtime/file-content.js";
import type { AppEnv } from "./api-types.js";
import { alreadySent, outgoingOf } from "./ndjson-out.js";
import { webBody } from "./routes/web-body.js";

export function fileAnswer(c: Context<AppEnv>, content: FileContent): Response {
  const headers: Record<string, string> = { "content-type": "application/octet-stream" };
  if (content.size !== undefined) headers["content-length"] = String(content.size);
  const out = outgoingOf(c);
  // Off a real server (app.request() in unit tests): a web body.
  if (!out) return new Response(webBody(content.stream), { status: 200, headers });
  const id = c.get("requestId");
  if (id) headers["x-request-id"] = id;
  out.writeHead(200, headers);
  // Either end failing or closing early destroys the other.
  pipeline(content.stream, out, () => undefined);
  return alreadySent(200);
}
