// The one error type of sbx: a stable `code` from the registry below, a message that tells the
// user what to do next, and the error that caused it (ES2022 `cause`, never sent on the wire).
// Every layer throws SbxError without knowing about HTTP; the API turns it into
// `{ error: { code, message, details } }` with the status the registry gives its code, and the SDK
// turns that back.

/**
 * Every code and the HTTP status it is answered with: the one table both ends read. Where several
 * codes share a status, the first listed is what a bare status means to a client (an answer
 * without an error body: a refused WebSocket upgrade, a proxy in between), so it comes first.
 */
export const ERROR_CODES = {
  invalid_argument: 400,
  invalid_name: 400,
  invalid_path: 400,
  invalid_archive: 400,
  out_of_range: 400,
  unauthenticated: 401,
  permission_denied: 403,
  not_found: 404,
  sandbox_not_found: 404,
  process_not_found: 404,
  terminal_not_found: 404,
  image_not_found: 404,
  project_not_found: 404,
  file_not_found: 404,
  volume_not_found: 404,
  sandbox_not_running: 409,
  already_exists: 409,
  /** A volume mounted read-write elsewhere, or removed while a sandbox holds it. */
  volume_in_use: 409,
  failed_precondition: 412,
  payload_too_large: 413,
  no_space: 507,
  daemon_unavailable: 503,
  base_image_unavailable: 503,
  /** Cluster: the node that runs the sandbox is lost or unreachable; its sandboxes come back with it. */
  node_unavailable: 503,
  internal: 500,
  runtime_error: 500,
  upstream_unreachable: 502,
  unimplemented: 501,
  /** The sandbox's in-sandbox agent is gone, replaced or misbehaving: that sandbox only. */
  agent_unreachable: 502,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class SbxError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, options?: ErrorOptions) {
    super(message, options);
    this.name = "SbxError";
    this.code = code;
    this.details = details;
  }

  toJSON(): { code: ErrorCode; message: string; details?: Record<string, unknown> } {
    return this.details
      ? { code: this.code, message: this.message, details: this.details }
      : { code: this.code, message: this.message };
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && Object.hasOwn(ERROR_CODES, value);
}

/** True when an error (Node's ENOSPC, SQLite's SQLITE_FULL, a command's stderr) says the disk is full. */
export function isNoSpace(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === "ENOSPC" || code === "SQLITE_FULL" || code === "no_space") return true;
  return /No space left on device|database or disk is full/.test(err instanceof Error ? err.message : String(err));
}

/** The error for a full disk under the daemon's data: the same code whichever layer hit it. */
export function noSpaceError(detail: string, cause?: unknown): SbxError {
  return new SbxError(
    "no_space",
    `no space left on the daemon's disk (${detail}): free space there (delete images and snapshots you no longer need) and try again`,
    undefined,
    cause === undefined ? undefined : { cause },
  );
}

/** Wraps anything thrown into an SbxError, keeping SbxErrors as they are and the original as `cause`. */
export function toSbxError(err: unknown): SbxError {
  if (err instanceof SbxError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (isNoSpace(err)) return noSpaceError(message, err);
  return new SbxError("internal", message, undefined, { cause: err });
}
