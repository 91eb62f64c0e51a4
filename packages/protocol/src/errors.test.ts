// Unit tests of the error class: the wire form, the cause kept for logs, and the code registry.
import { describe, expect, it } from "vitest";
import { ERROR_CODES, SbxError, isErrorCode, noSpaceError, toSbxError } from "./errors.js";

describe("SbxError", () => {
  it("serializes code, message and details, never the cause", () => {
    const cause = new Error("EACCES: /var/lib/sbx/x");
    const err = new SbxError("permission_denied", "no", { path: "/x" }, { cause });
    expect(err.cause).toBe(cause);
    expect(JSON.parse(JSON.stringify(err))).toEqual({
      code: "permission_denied",
      message: "no",
      details: { path: "/x" },
    });
    expect(new SbxError("internal", "m").toJSON()).toEqual({ code: "internal", message: "m" });
    expect("status" in err).toBe(false);
  });

  it("toSbxError keeps SbxErrors and wraps anything else with it as the cause", () => {
    const own = new SbxError("not_found", "gone");
    expect(toSbxError(own)).toBe(own);
    const raw = new TypeError("boom");
    const wrapped = toSbxError(raw);
    expect(wrapped).toMatchObject({ code: "internal", message: "boom" });
    expect(wrapped.cause).toBe(raw);
    expect(toSbxError("text").cause).toBe("text");
  });

  it("a full disk becomes no_space whichever layer hit it, keeping what it hit", () => {
    const enospc = Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
    const err = toSbxError(enospc);
    expect(err.code).toBe("no_space");
    expect(err.cause).toBe(enospc);
    expect(noSpaceError("mkdir").cause).toBeUndefined();
  });

  it("every code has an HTTP status", () => {
    for (const [code, status] of Object.entries(ERROR_CODES)) {
      expect(isErrorCode(code)).toBe(true);
      expect(status).toBeGreaterThanOrEqual(400);
    }
    expect(isErrorCode("toString")).toBe(false);
  });
});
