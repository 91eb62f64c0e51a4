// What clients sent the test daemon, for tests that assert the requests of the SDK and the CLI:
// a wrapper around the API's handler that records each request (method, path with query,
// headers, body or its size) before the real handler sees it, and can slice response bodies
// into tiny pieces to prove a client decodes a stream that arrives split anywhere.
import type { ApiHandler } from "../daemon-listeners.js";

export interface RecordedRequest {
  method: string;
  /** Path and query as sent, e.g. `/v1/sandboxes?all=1`. */
  url: string;
  /** Lower-case names, as Node's IncomingMessage has them. */
  headers: Record<string, string>;
  /** The body as text, or `<N bytes>` for uploads (files, archives, stdin, build contexts). */
  body: string;
}

const isUpload = (method: string, path: string): boolean =>
  (method === "POST" || method === "PUT") &&
  (/\/(stdin|files|archive)$/.test(path) || path.startsWith("/v1/contexts/"));

export class RequestRecorder {
  readonly requests: RecordedRequest[] = [];
  /** When set, response bodies go out in pieces of this many bytes, 1 ms apart. */
  sliceResponses: number | undefined;

  wrap(handler: ApiHandler): ApiHandler {
    return async (request, env) => {
      const url = new URL(request.url);
      const body = request.body ? Buffer.from(await request.arrayBuffer()) : Buffer.alloc(0);
      this.requests.push({
        method: request.method,
        url: url.pathname + url.search,
        headers: Object.fromEntries(request.headers),
        body: isUpload(request.method, url.pathname) ? `<${body.length} bytes>` : body.toString(),
      });
      // The body was read here: the handler gets a request with the same bytes.
      const hasBody = request.method !== "GET" && request.method !== "HEAD";
      const forward = new Request(request.url, {
        method: request.method,
        headers: request.headers,
        body: hasBody ? body : undefined,
        signal: request.signal,
      });
      const size = this.sliceResponses;
      // Slicing needs the answer as a web body: without the server's own response in the env, an
      // NDJSON route answers with one (ndjson-out.ts writes straight to that response otherwise).
      const response = await handler(forward, size ? { ...(env as object), outgoing: undefined } : env);
      if (!size || !response.body) return response;
      return new Response(sliced(response.body, size), { status: response.status, headers: response.headers });
    };
  }
}

function sliced(body: ReadableStream<Uint8Array>, size: number): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream({
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) return controller.close();
      for (let i = 0; i < value.length; i += size) {
        controller.enqueue(value.subarray(i, i + size));
        await new Promise((r) => setTimeout(r, 1));
      }
    },
    cancel: (reason) => reader.cancel(reason),
  });
}
