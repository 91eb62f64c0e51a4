// The one error type of sbx: a stable `code` from the registry below, the HTTP status that code
// maps to, and a message that tells the user what to do next. Every layer throws SbxError; the
// API turns it into `{ error: { code, message, details } }` and the SDK turns that back.

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
  already_exists: 409,
  sandbox_not_running: 409,
  failed_precondition: 412,
  payload_too_large: 413,
  no_space: 507,
  base_image_unavailable: 503,
  daemon_unavailable: 503,
  runtime_error: 500,
  upstream_unreachable: 502,
  internal: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class SbxError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = "SbxError";
    this.code = code;
    this.details = details;
  }

  get status(): number {
    return ERROR_CODES[this.code];
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
export function noSpaceError(detail: string): SbxError {
  return new SbxError(
    "no_space",
    `no space left on the daemon's disk (${detail}): free space there (delete images and snapshots you no longer need) and try again`,
  );
}

/** Wraps anything thrown into an SbxError, keeping SbxErrors as they are. */
export function toSbxError(err: unknown): SbxError {
  if (err instanceof SbxError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (isNoSpace(err)) return noSpaceError(message);
  return new SbxError("internal", message);
}
