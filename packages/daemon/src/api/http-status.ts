// The HTTP status of an error, looked up at the HTTP edge: the services and everything below them
// throw SbxErrors that know nothing of HTTP; the registry in @sbx-sh/protocol gives each code its
// status, and the only exception (the port proxy's, below) is written down here.
import { ERROR_CODES, type ErrorCode } from "@sbx-sh/protocol";

/** The status the API answers an error of this code with. */
export function httpStatus(code: ErrorCode): number {
  return ERROR_CODES[code];
}

/**
 * The status the port proxy answers with. A browser or HTTP client behind the proxy talks to the
 * sandbox's server, not to the API: a sandbox that is not running is that server being down (503
 * Service Unavailable), not a conflict with the request (the API's 409). docs/api.md lists these.
 */
export function proxyHttpStatus(code: ErrorCode): number {
  return code === "sandbox_not_running" ? 503 : httpStatus(code);
}
