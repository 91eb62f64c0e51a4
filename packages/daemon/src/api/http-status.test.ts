// Unit tests of the HTTP status of errors: the API answers the registry's, the port proxy differs
// for a sandbox that is not running (its server is down: 503, not the API's 409).
import { describe, expect, it } from "vitest";
import { ERROR_CODES, type ErrorCode } from "@sbx-sh/protocol";
import { httpStatus, proxyHttpStatus } from "./http-status.js";

describe("http status of an error code", () => {
  it("is the registry's for the API", () => {
    for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) expect(httpStatus(code)).toBe(ERROR_CODES[code]);
    expect(httpStatus("sandbox_not_running")).toBe(409);
  });

  it("is what docs/api.md lists for the port proxy's refusals", () => {
    expect(proxyHttpStatus("not_found")).toBe(404);
    expect(proxyHttpStatus("unauthenticated")).toBe(401);
    expect(proxyHttpStatus("permission_denied")).toBe(403);
    expect(proxyHttpStatus("sandbox_not_running")).toBe(503);
    expect(proxyHttpStatus("upstream_unreachable")).toBe(502);
  });
});
