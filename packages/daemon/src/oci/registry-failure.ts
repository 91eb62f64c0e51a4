// How a registry request's failure is said: the registry's name, what was asked, the HTTP status
// and only what an OCI error body says (its codes and messages, capped and printable), never the
// raw body: a failed request may have reached a service that answers with something of its own.
// A failure that a later attempt of the same request may not have (the registry could not be
// reached, the transfer broke off, a 5xx, a 429) says so in its details (`transient`, `reason`),
// so callers that try again test a field, never the message's text.
import { SbxError, type ErrorCode } from "@sbx-sh/protocol";
import { readAtMost } from "./response-body.js";

/** Why a request failed when trying it again may go better: the transfer failed, not the content. */
export type TransientReason = "unreachable" | "transfer_broken" | "server_error" | "rate_limited";

/** The details of a registry request's SbxError. */
export interface RegistryFailureDetails {
  registry: string;
  status?: number;
  reason?: TransientReason | "tls_verify_failed";
  /** A later attempt of the same request may go better. */
  transient?: boolean;
  /** How long the registry asked to wait before the next attempt (its Retry-After), in ms. */
  retryAfterMs?: number;
  /** How many attempts were made, on the error of the last one. */
  attempts?: number;
}

/** Statuses of a registry that is overloaded or briefly broken, not of a request it refuses. */
const TRANSIENT_STATUS: Record<number, TransientReason> = {
  429: "rate_limited",
  500: "server_error",
  502: "server_error",
  503: "server_error",
  504: "server_error",
};

/** The most of an error answer's body read for its OCI error text: the rest is not waited for. */
export const ERROR_BODY_CAP = 64 << 10;

/** The error of a registry request; `details` carries the registry, the HTTP status and `extra`. */
export function registryFailure(
  registry: string,
  code: ErrorCode,
  what: string,
  res?: Response,
  body?: string,
  extra: Partial<RegistryFailureDetails> = {},
): SbxError {
  const detail = body ? ociErrorText(body) : "";
  const details: RegistryFailureDetails = { registry, status: res?.status, ...statusDetails(res), ...extra };
  return new SbxError(
    code,
    `registry ${registry}: ${what}${res ? ` (HTTP ${res.status})` : ""}${detail ? `: ${detail}` : ""}`,
    details as unknown as Record<string, unknown>,
  );
}

/** The registry details of an error, if it is a registry request's SbxError. */
export function failureDetails(err: unknown): RegistryFailureDetails | undefined {
  const d = err instanceof SbxError ? err.details : undefined;
  return d && typeof d.registry === "string" ? (d as unknown as RegistryFailureDetails) : undefined;
}

/** `err` again with `more` said after its message and `extra` added to its details. */
export function withDetails(err: SbxError, more: string, extra: Partial<RegistryFailureDetails>): SbxError {
  return new SbxError(err.code, `${err.message}${more}`, { ...err.details, ...extra }, { cause: err.cause });
}

/**
 * An error answer's body as text, at most ERROR_BODY_CAP bytes of it (a hostile registry may send
 * an endless one); "" when it cannot be read (the connection broke: the status already says why).
 */
export async function errorBody(res: Response): Promise<string> {
  const body = await readAtMost(res, ERROR_BODY_CAP).catch(() => undefined);
  return body?.data.toString("utf8") ?? "";
}

/** What a transient status adds to the details: its reason, and a Retry-After the registry sent. */
function statusDetails(res: Response | undefined): Partial<RegistryFailureDetails> {
  const reason = res ? TRANSIENT_STATUS[res.status] : undefined;
  if (!res || !reason) return {};
  const wait = retryAfterMs(res.headers.get("retry-after"), Date.now());
  return { reason, transient: true, ...(wait !== undefined ? { retryAfterMs: wait } : {}) };
}

/** A Retry-After value (delay in seconds, or an HTTP date) as ms from `now`; undefined if malformed. */
export function retryAfterMs(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (/^\d{1,9}$/.test(v)) return Number(v) * 1000;
  const at = /[a-z]/i.test(v) ? Date.parse(v) : NaN;
  return Number.isFinite(at) ? Math.max(0, at - now) : undefined;
}

/** The codes and messages of an OCI error body (`{"errors":[{code,message}]}`), capped; "" otherwise. */
function ociErrorText(body: string): string {
  try {
    const errors = (JSON.parse(body) as { errors?: Array<{ code?: unknown; message?: unknown }> }).errors;
    if (!Array.isArray(errors)) return "";
    return errors
      .map((e) => [e.code, e.message].filter((x) => typeof x === "string").join(" "))
      .join("; ")
      .replace(/[^\x20-\x7e]/g, "?")
      .slice(0, 200);
  } catch {
    return "";
  }
}
