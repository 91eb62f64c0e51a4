import { describe, expect, it } from "vitest";
import { SbxError } from "@sbx-sh/protocol";
import { hintFor } from "./output.js";

describe("hints", () => {
  it("gives one hint, and none that repeats or contradicts the message", () => {
    expect(hintFor(new SbxError("sandbox_not_found", 'sandbox "x" does not exist'))).toMatch(/sbx ls/);
    // The message already says what to do.
    expect(
      hintFor(new SbxError("sandbox_not_running", "sandbox x is suspended: resume it with `sbx resume x`")),
    ).toBeUndefined();
    expect(hintFor(new SbxError("permission_denied", "cannot open the sbxd socket /run/sbx/sbxd.sock"))).toMatch(
      /sudo/,
    );
    expect(
      hintFor(new SbxError("permission_denied", "/home/u/.config/sbx/config.json holds tokens but others can read it")),
    ).toBeUndefined();
    // Over TCP: sudo on this machine would not help.
    expect(
      hintFor(new SbxError("permission_denied", "projects and tokens are managed over the daemon's unix socket only")),
    ).toBeUndefined();
  });
});
