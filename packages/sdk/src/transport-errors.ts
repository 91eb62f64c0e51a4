// How the SDK reports failures: an error answer of the daemon (its `{error:{code,message}}` body,
// or the bare status of a proxy's answer) and a connection that could not be made (no socket, no
// permission, a certificate not trusted) as the SbxError a caller can act on.
import { ERROR_CODES, SbxError, isErrorCode, type ErrorCode } from "@sbx-sh/protocol";
import type { ResolvedConfig } from "./config.js";
import type { Body } from "./transport.js";

/** A failure to reach the daemon at `config`'s host as the SbxError a caller can act on. */
export function connectionError(err: unknown, config: ResolvedConfig): unknown {
  if (err instanceof SbxError) return err;
  if (err instanceof Error && err.name === "AbortError") return err;
  const code = errnoCode(err);
  const where = config.host;
  if (code === "EACCES" || code === "EPERM") {
    return new SbxError(
      "permission_denied",
      `cannot open the sbxd socket ${config.socketPath ?? where}: permission denied (it is root-only: run as root, or use --host http://HOST:PORT with SBX_TOKEN)`,
      undefined,
      { cause: err },
    );
  }
  const unreachable = [
    "ENOENT",
    "ECONNREFUSED",
    "ECONNRESET",
    "ENOTFOUND",
    "EHOSTUNREACH",
    "ENETUNREACH",
    "ETIMEDOUT",
    "EAI_AGAIN",
  ];
  if (code && unreachable.includes(code)) {
    return new SbxError(
      "daemon_unavailable",
      `cannot reach sbxd at ${where}: start it with \`sbx daemon start\``,
      { cause: code },
      { cause: err },
    );
  }
  const message = err instanceof Error ? err.message : String(err);
  if (code && (TLS_TRUST_CODES.has(code) || code.startsWith("ERR_TLS_")))
    return new SbxError(
      "failed_precondition",
      `cannot verify sbxd's certificate at ${where} (${message}): give the CA that signed it with --ca FILE, SBX_CA_CERT, or \`sbx context add NAME --host ${where} --ca FILE\``,
      { cause: code },
      { cause: err },
    );
  return new SbxError("internal", `request to sbxd at ${where} failed: ${message}`, undefined, { cause: err });
}

/** OpenSSL's answers when a server's certificate is not trusted (Node's err.code). */
const TLS_TRUST_CODES = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_UNTRUSTED",
]);

/** The errno-style code of an error or of one of its causes. */
export function errnoCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The HTTP status the daemon answers an error of this code with (the registry's). */
export function httpStatusOf(code: ErrorCode): number {
  return ERROR_CODES[code];
}

/**
 * The code of an answer without an error body (a proxy's, a broken body): the first code the
 * registry lists with that status, which is the general one; unknown statuses are `internal`.
 */
const CODE_OF_STATUS: ReadonlyMap<number, ErrorCode> = new Map(
  (Object.entries(ERROR_CODES) as Array<[ErrorCode, number]>).reverse().map(([code, status]) => [status, code]),
);

/** Turns a non-2xx answer into an SbxError, trusting the daemon's `{error:{code,message}}` when present. */
export async function errorFromResponse(status: number, body: Body): Promise<SbxError> {
  let text = "";
  try {
    text = await body.text();
  } catch {
    // the body broke off; the status alone still says what happened
  }
  const parsed = parseErrorBody(text);
  if (parsed) return parsed;
  const code = CODE_OF_STATUS.get(status) ?? "internal";
  const detail = text.trim().slice(0, 300);
  return new SbxError(code, `sbxd answered HTTP ${status}${detail ? `: ${detail}` : ""}`, { status });
}

/** Reads `{error:{code,message,details}}`; unknown codes keep their message under the closest known code. */
export function parseErrorBody(textOrValue: string | unknown): SbxError | null {
  let value = textOrValue;
  if (typeof value === "string") {
    try {
      value = JSON.parse(value);
    } catch {
      return null;
    }
  }
  const error = (value as { error?: unknown } | null)?.error as
    { code?: unknown; message?: unknown; details?: unknown } | undefined;
  if (!error || typeof error !== "object" || typeof error.message !== "string") return null;
  const details =
    error.details && typeof error.details === "object" ? (error.details as Record<string, unknown>) : undefined;
  if (isErrorCode(error.code)) return new SbxError(error.code, error.message, details);
  return new SbxError("internal", error.message, { ...details, code: error.code });
}
