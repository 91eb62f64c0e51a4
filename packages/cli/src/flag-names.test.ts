import { describe, expect, it } from "vitest";
import { SbxError } from "@sbx-sh/protocol";
import { commandWord, withFlagNames } from "./flag-names.js";
import { CliFailure } from "./output.js";

describe("validation errors name flags", () => {
  it("replaces API fields by the flags that set them, for sandbox commands only", () => {
    const err = new SbxError(
      "out_of_range",
      "invalid request: memoryMb: Too big: expected number to be <=65536; pidsLimit: Too small",
    );
    expect((withFlagNames(err, "new") as Error).message).toBe(
      "invalid request: --memory: Too big: expected number to be <=65536; --pids: Too small",
    );
    expect((withFlagNames(err, "image") as Error).message).toBe(err.message);
    const wrapped = withFlagNames(new CliFailure(err, 125), "run") as CliFailure;
    expect(wrapped.exitCode).toBe(125);
    expect((wrapped.original as Error).message).toMatch(/^invalid request: --memory:/);
    expect(
      (withFlagNames(new SbxError("invalid_argument", "invalid request: labels.team: bad"), "new") as Error).message,
    ).toBe("invalid request: --label (team): bad");
  });

  it("finds the command word past global options", () => {
    expect(commandWord(["--host", "unix:///x", "--json", "new", "--cpus", "2"])).toBe("new");
    expect(commandWord(["--context", "prod", "run"])).toBe("run");
  });
});
