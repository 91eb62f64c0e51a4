// Exec size limits: what the kernel would refuse with E2BIG is refused first, with a stable code.
import { describe, expect, it } from "vitest";
import { assertExecFits, MAX_EXEC_TOTAL_BYTES, mergeEnv } from "./env.js";

describe("assertExecFits", () => {
  it("accepts an ordinary command line and environment", () => {
    expect(() => assertExecFits(["ls", "-la", "x".repeat(100_000)], mergeEnv([], { A: "1" }))).not.toThrow();
  });

  it("refuses one string of 128 KiB or more, counted in bytes", () => {
    expect(() => assertExecFits(["echo", "x".repeat(128 * 1024)], [])).toThrow(
      expect.objectContaining({ code: "out_of_range" }),
    );
    expect(() => assertExecFits(["echo"], [`A=${"é".repeat(64 * 1024)}`])).toThrow(
      expect.objectContaining({ code: "out_of_range" }),
    );
  });

  it("refuses a total beyond the cap", () => {
    const args = Array.from({ length: Math.ceil(MAX_EXEC_TOTAL_BYTES / 1000) + 1 }, () => "x".repeat(1000));
    expect(() => assertExecFits(["echo", ...args], [])).toThrow(expect.objectContaining({ code: "out_of_range" }));
  });
});
