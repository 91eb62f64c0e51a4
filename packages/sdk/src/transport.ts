// HTTP transport of the SDK: requests over a unix socket or TCP with the project header and bearer
// token; error answers and connection failures become SbxErrors in ./transport-errors.ts. Where sbxd
// is comes from config.ts. Everything above this file speaks in paths and JSON.
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from "node:http";
import type * as Https from "node:https";
import { createRequire } from "node:module";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { SbxError } from "@sbx-sh/protocol";
import type { ClientOptions, ResolvedConfig } from "./config.js";
import { resolveConfig } from "./config.js";
import { connectionError, errnoCode, errorFromResponse } from "./transport-errors.js";

// Importers of the error mapping through this module (ndjson, oci, the package's index) keep working.
export { errorFromResponse, httpStatusOf, parseErrorBody } from "./transport-errors.js";

/** Query parameters; an array repeats its key (`label=a&label=b`). */
export type Query = Record<string, string | number | boolean | undefined | readonly string[]>;

export interface RequestOptions {
  query?: Query;
  /** JSON body (sets content-type). */
  json?: unknown;
  /** Raw body: bytes, text or a stream (uploads are streamed, never buffered). */
  body?: Uint8Array | string | Readable | AsyncIterable<Uint8Array>;
  contentType?: string;
  signal?: AbortSignal;
  /** Long-lived answer (NDJSON follow, tar download): no header or body timeouts. */
  stream?: boolean;
}

export type HttpMethod = "GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "PATCH";

/** An answer's body: a Readable of Buffers (async-iterable), plus the few readers the SDK needs. */
export type Body = IncomingMessage & {
  text(): Promise<string>;
  arrayBuffer(): Promise<ArrayBuffer>;
  dump(): Promise<void>;
};

export interface Response {
  statusCode: number;
  headers: IncomingMessage["headers"];
  body: Body;
}

function withReaders(res: IncomingMessage): Body {
  const body = res as Body;
  const collect = async (): Promise<Buffer> => {
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  };
  body.text = async () => (await collect()).toString("utf8");
  body.arrayBuffer = async () => {
    const b = await collect();
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  };
  body.dump = async () => {
    res.resume();
    if (!res.readableEnded) await new Promise<void>((resolve) => res.once("end", resolve).once("close", resolve));
  };
  return body;
}

// node:http rather than undici: the CLI starts on every command, and undici alone costs ~70 ms to load.
// node:https (with tls and crypto under it) is loaded only for an https:// daemon, for the same reason.
let https: typeof Https | undefined;
function httpsModule(): typeof Https {
  return (https ??= createRequire(import.meta.url)("node:https") as typeof Https);
}

export class Transport {
  readonly config: ResolvedConfig;
  private readonly agent: HttpAgent;

  constructor(options: ClientOptions = {}) {
    this.config = resolveConfig(options);
    this.agent = this.config.baseUrl.startsWith("https:")
      ? new (httpsModule().Agent)({ keepAlive: true, ...(this.config.ca ? { ca: this.config.ca } : {}) })
      : new HttpAgent({ keepAlive: true });
  }

  /** Who is asking: the project when one was named, and the bearer token for a TCP daemon. */
  private identity(): Record<string, string> {
    // Unnamed, a unix socket uses `default` and TCP the token's project; named, TCP refuses another.
    const headers: Record<string, string> = this.config.projectNamed ? { "x-sbx-project": this.config.project } : {};
    if (this.config.token) headers.authorization = `Bearer ${this.config.token}`;
    return headers;
  }

  /**
   * @internal Not in the published declarations, so users' type checks need no @types/ws.
   * A WebSocket to `path` on the daemon (terminals, port tunnels), with this client's identity. `ws`
   * is loaded on first use: the CLI starts on every command and most never need it.
   */
  async webSocket(path: string): Promise<import("ws").WebSocket> {
    const { WebSocket } = await import("ws");
    // ws speaks unix sockets as ws+unix:///path/to.sock:/request/path.
    const url = this.config.socketPath
      ? `ws+unix://${this.config.socketPath}:${path}`
      : this.config.baseUrl.replace(/^http/, "ws") + path;
    return new WebSocket(url, {
      headers: this.identity(),
      perMessageDeflate: false,
      ...(this.config.ca ? { ca: this.config.ca } : {}),
    });
  }

  /** Sends a request; answers outside 2xx become SbxError (the body is consumed). */
  async send(method: HttpMethod, path: string, opts: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { ...this.identity(), accept: "application/json" };
    let body: Uint8Array | string | Readable | AsyncIterable<Uint8Array> | undefined;
    if (opts.json !== undefined) {
      body = JSON.stringify(opts.json);
      headers["content-type"] = "application/json";
    } else if (opts.body !== undefined) {
      body = opts.body;
      headers["content-type"] = opts.contentType ?? "application/octet-stream";
    }
    let res: IncomingMessage;
    try {
      res = await this.exchange(method, this.url(path, opts.query), headers, body, opts.signal);
    } catch (err) {
      throw this.connectionError(err);
    }
    const wrapped = withReaders(res);
    const status = res.statusCode ?? 0;
    if (status >= 200 && status < 300) return { statusCode: status, headers: res.headers, body: wrapped };
    throw await errorFromResponse(status, wrapped);
  }

  private async exchange(
    method: HttpMethod,
    url: string,
    headers: Record<string, string>,
    body: RequestOptions["body"],
    signal?: AbortSignal,
  ): Promise<IncomingMessage> {
    try {
      return await this.exchangeOnce(method, url, headers, body, signal);
    } catch (err) {
      // A kept-alive connection the daemon closed while idle fails on first use; the request
      // never reached it, so sending it again (when its body can be sent again) is safe.
      const code = errnoCode(err);
      const replayable = body === undefined || typeof body === "string" || body instanceof Uint8Array;
      if (
        (err as { reusedSocket?: boolean }).reusedSocket &&
        replayable &&
        (code === "ECONNRESET" || code === "EPIPE")
      ) {
        return this.exchangeOnce(method, url, headers, body, signal);
      }
      throw err;
    }
  }

  private exchangeOnce(
    method: HttpMethod,
    url: string,
    headers: Record<string, string>,
    body: RequestOptions["body"],
    signal?: AbortSignal,
  ): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const target = new URL(url);
      const fixed = typeof body === "string" || body instanceof Uint8Array ? Buffer.from(body as string) : undefined;
      if (fixed) headers["content-length"] = String(fixed.length);
      const req = (target.protocol === "https:" ? httpsModule().request : httpRequest)({
        method,
        agent: this.agent,
        headers,
        path: target.pathname + target.search,
        ...(this.config.socketPath
          ? { socketPath: this.config.socketPath }
          : { host: target.hostname, port: target.port }),
        signal,
      });
      req.once("response", resolve);
      req.once("error", (err) => reject(Object.assign(err, { reusedSocket: req.reusedSocket })));
      if (body === undefined) req.end();
      else if (fixed) req.end(fixed);
      else {
        const source = body instanceof Readable ? body : Readable.from(body as AsyncIterable<Uint8Array>);
        pipeline(source, req).catch((err: unknown) => req.destroy(err as Error));
      }
    });
  }

  async json<T>(method: HttpMethod, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.send(method, path, opts);
    const text = await res.body.text();
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new SbxError(
        "internal",
        `sbxd answered ${method} ${path} with something that is not JSON: ${text.slice(0, 200)}`,
      );
    }
  }

  async empty(method: HttpMethod, path: string, opts: RequestOptions = {}): Promise<void> {
    const res = await this.send(method, path, opts);
    await res.body.dump();
  }

  async bytes(method: HttpMethod, path: string, opts: RequestOptions = {}): Promise<Buffer> {
    const res = await this.send(method, path, opts);
    return Buffer.from(await res.body.arrayBuffer());
  }

  /** The answer's body as a stream, for NDJSON and tar. */
  async stream(method: HttpMethod, path: string, opts: RequestOptions = {}): Promise<Body> {
    const res = await this.send(method, path, { ...opts, stream: true });
    return res.body;
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }

  private url(path: string, query?: Query): string {
    let url = this.config.baseUrl + path;
    if (query) {
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(query)) {
        if (v === undefined || v === false) continue;
        if (Array.isArray(v)) for (const item of v as readonly string[]) params.append(k, item);
        else params.set(k, v === true ? "1" : String(v));
      }
      const qs = params.toString();
      if (qs) url += `?${qs}`;
    }
    return url;
  }

  /** A failure to reach the daemon as the SbxError a caller can act on. */
  connectionError(err: unknown): unknown {
    return connectionError(err, this.config);
  }
}
