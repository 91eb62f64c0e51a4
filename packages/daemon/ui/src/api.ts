// The dashboard's calls to the daemon: same-origin fetches authenticated by the HttpOnly session
// cookie, with the session's CSRF token on every state-changing request. Errors come back as the
// daemon's `{error: {code, message, requestId}}` and are thrown as ApiError.
import type { SbxEvent } from "@sbx-sh/protocol";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId?: string,
  ) {
    super(message);
  }
}

let csrf = "";

export function setCsrf(token: string): void {
  csrf = token;
}

async function errorOf(res: Response): Promise<ApiError> {
  const body = (await res.json().catch(() => null)) as {
    error?: { code: string; message: string; requestId?: string };
  } | null;
  return new ApiError(
    res.status,
    body?.error?.code ?? "http_" + res.status,
    body?.error?.message ?? res.statusText,
    body?.error?.requestId ?? res.headers.get("x-request-id") ?? undefined,
  );
}

export async function call(method: string, path: string, body?: unknown, raw?: BodyInit): Promise<Response> {
  const headers: Record<string, string> = {};
  if (method !== "GET") headers["x-sbx-csrf"] = csrf;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
  });
  if (!res.ok) throw await errorOf(res);
  return res;
}

export async function json<T>(method: string, path: string, body?: unknown): Promise<T> {
  return (await call(method, path, body)).json() as Promise<T>;
}

export const enc = encodeURIComponent;

/** NDJSON lines of a streamed answer (build events, process output), as they arrive. */
export async function* ndjson<T>(path: string, signal?: AbortSignal): AsyncGenerator<T> {
  const res = await fetch(path, { credentials: "same-origin", signal });
  if (!res.ok || !res.body) throw await errorOf(res);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += value;
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line) yield JSON.parse(line) as T;
    }
  }
}

/** The event types the pages follow: one stream for all of them (a browser allows six connections a host). */
const FOLLOWED = ["sandbox", "pool", "build", "image"];
const listeners = new Set<{ types: string[]; fn: (e: SbxEvent) => void }>();
let shared: EventSource | undefined;

/**
 * Calls onEvent for the project's events of these types (comma-separated prefixes of FOLLOWED),
 * from one shared stream that the browser's EventSource reconnects with Last-Event-ID by itself.
 * Returns the function that stops it.
 */
export function events(onEvent: (e: SbxEvent) => void, types: string): () => void {
  const l = { types: types.split(",").filter(Boolean), fn: onEvent };
  listeners.add(l);
  if (!shared) {
    shared = new EventSource(`/v1/events?type=${enc(FOLLOWED.join(","))}`);
    shared.onmessage = (m: MessageEvent<string>) => {
      const e = JSON.parse(m.data) as SbxEvent;
      for (const x of listeners) if (x.types.some((t) => e.type === t || e.type.startsWith(`${t}.`))) x.fn(e);
    };
  }
  return () => listeners.delete(l);
}

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return "-";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

export function ago(iso: string | null): string {
  if (!iso) return "-";
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 60
    ? `${s}s`
    : s < 3600
      ? `${Math.floor(s / 60)}m`
      : s < 86400
        ? `${Math.floor(s / 3600)}h`
        : `${Math.floor(s / 86400)}d`;
}
