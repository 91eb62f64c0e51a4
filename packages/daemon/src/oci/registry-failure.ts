// How a registry request's failure is said: the registry's name, what was asked, the HTTP status
// and only what an OCI error body says (its codes and messages, capped and printable), never the
// raw body: a failed request may have reached a service that answers with something of its own.
import { SbxError, type ErrorCode } from "@sbx-sh/protocol";

/** The error of a registry request; `details` carries the registry and the HTTP status, if any. */
export function registryFailure(
  registry: string,
  code: ErrorCode,
  what: string,
  res?: Response,
  body?: string,
): SbxError {
  const detail = body ? ociErrorText(body) : "";
  return new SbxError(
    code,
    `registry ${registry}: ${what}${res ? ` (HTTP ${res.status})` : ""}${detail ? `: ${detail}` : ""}`,
    { registry, status: res?.status },
  );
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
