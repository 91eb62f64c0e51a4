// Raw HTTP for the API abuse tests: requests exactly as written (undecoded paths, any bytes, any
// headers) over the daemon's TCP port or unix socket, and the check every error answer must pass.
import { connect } from "node:net";
import { expect } from "vitest";
import { ERROR_CODES, isErrorCode } from "@sbx-sh/protocol";

/** Where requests go and the headers that say who is asking (a bearer token or X-Sbx-Project). */
export interface Endpoint {
  label: string;
  socketPath?: string;
  port?: number;
  headers: Record<string, string>;
}

export interface RawRequest {
  method: string;
  path: string;
  body?: string | Buffer;
  headers?: Record<string, string>;
}

export interface RawResponse {
  status: number;
  contentType: string;
  text: string;
  /** The stream was cut after the time limit (a streaming answer that did not end). */
  cut: boolean;
}

/**
 * Sends one request on its own connection, written by hand so nothing is normalised (paths,
 * headers, framing). The connection is kept alive, as clients do, so a daemon that answers before
 * reading the whole body (413) still drains it and the answer arrives. A body that does not end
 * within `timeoutMs` is cut, not awaited.
 */
export function send(ep: Endpoint, req: RawRequest, timeoutMs = 30_000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const body = req.body === undefined ? undefined : Buffer.isBuffer(req.body) ? req.body : Buffer.from(req.body);
    const headers: Record<string, string> = { host: "sbx", ...ep.headers, ...req.headers };
    const has = (h: string): boolean => Object.keys(headers).some((k) => k.toLowerCase() === h);
    const chunked = has("transfer-encoding");
    if (body && !has("content-type")) headers["content-type"] = "application/json";
    if (body && !chunked && !has("content-length")) headers["content-length"] = String(body.length);
    const head = `${req.method} ${req.path} HTTP/1.1\r\n${Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join("")}\r\n`;
    const sock = ep.socketPath ? connect(ep.socketPath) : connect(ep.port!, "127.0.0.1");
    const chunks: Buffer[] = [];
    let settled = false;
    const timer = setTimeout(() => finish(true), timeoutMs);
    function finish(cut: boolean): void {
      if (settled) return;
      const res = parse(Buffer.concat(chunks), req.method);
      if (!res && !cut && !sock.destroyed) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      if (!res?.head) reject(new Error(`${req.method} ${req.path.slice(0, 120)}: no answer`));
      else resolve({ ...res.head, cut: !res.complete });
    }
    sock.on("data", (c: Buffer) => {
      chunks.push(c);
      if (parse(Buffer.concat(chunks), req.method)?.complete) finish(false);
    });
    sock.on("close", () => finish(true));
    // The daemon may answer and close before it read all we send: keep what it answered.
    sock.on("error", () => undefined);
    sock.write(head);
    if (body)
      sock.write(
        chunked
          ? Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from("\r\n0\r\n\r\n")])
          : body,
      );
  });
}

/** The response in `raw` so far: its status, type and body, and whether the body is complete. */
function parse(raw: Buffer, method: string): { head: Omit<RawResponse, "cut">; complete: boolean } | undefined {
  const split = raw.indexOf("\r\n\r\n");
  if (split < 0) return undefined;
  const lines = raw.subarray(0, split).toString("latin1").split("\r\n");
  const status = Number(lines[0]!.split(" ")[1]);
  const header = (name: string): string | undefined =>
    lines
      .find((l) => l.toLowerCase().startsWith(`${name}:`))
      ?.slice(name.length + 1)
      .trim();
  const rest = raw.subarray(split + 4);
  const type = header("content-type") ?? "";
  if (method === "HEAD" || status === 204 || status === 304)
    return { head: { status, contentType: type, text: "" }, complete: true };
  const length = header("content-length");
  if (length !== undefined)
    return {
      head: { status, contentType: type, text: rest.subarray(0, Number(length)).toString("utf8") },
      complete: rest.length >= Number(length),
    };
  const { data, done } = dechunk(rest);
  return { head: { status, contentType: type, text: data.toString("utf8") }, complete: done };
}

/** Decodes a chunked body, as far as it arrived. */
function dechunk(buf: Buffer): { data: Buffer; done: boolean } {
  const out: Buffer[] = [];
  let i = 0;
  for (;;) {
    const eol = buf.indexOf("\r\n", i);
    if (eol < 0) return { data: Buffer.concat(out), done: false };
    const size = parseInt(buf.subarray(i, eol).toString("latin1"), 16);
    if (size === 0) return { data: Buffer.concat(out), done: true };
    if (!(size > 0) || eol + 2 + size > buf.length) return { data: Buffer.concat(out), done: false };
    out.push(buf.subarray(eol + 2, eol + 2 + size));
    i = eol + 2 + size + 2;
  }
}

export interface ErrorExpectation {
  status?: number | number[];
  codes?: string[];
}

/** A 4xx answer with a JSON `{error: {code, message}}` whose code is in the registry and maps to the status. */
export function expectApiError(res: RawResponse, what: string, want: ErrorExpectation = {}): string {
  const ctx = `${what} -> ${res.status} ${res.text.slice(0, 300)}`;
  expect(res.status, ctx).toBeGreaterThanOrEqual(400);
  expect(res.status, ctx).toBeLessThan(500);
  expect(res.contentType, ctx).toMatch(/application\/json/);
  const body = JSON.parse(res.text) as { error?: { code?: unknown; message?: unknown } };
  const code = body.error?.code;
  expect(isErrorCode(code), ctx).toBe(true);
  expect(typeof body.error?.message, ctx).toBe("string");
  expect(ERROR_CODES[code as keyof typeof ERROR_CODES], ctx).toBe(res.status);
  if (want.status !== undefined) expect([want.status].flat(), ctx).toContain(res.status);
  if (want.codes) expect(want.codes, ctx).toContain(code);
  return code as string;
}
