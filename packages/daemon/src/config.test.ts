// sbxd's settings: the --runtime option (and SBX_RUNTIME) accept only the runtimes this build has.
import { describe, expect, it } from "vitest";
import { defaultConfig, parseFlags, USAGE } from "./config.js";

describe("--runtime", () => {
  it("defaults to crun and accepts it by flag and environment", () => {
    expect(defaultConfig({}).runtime).toBe("crun");
    expect(defaultConfig({ SBX_RUNTIME: "crun" }).runtime).toBe("crun");
    expect(parseFlags(["--runtime", "crun"], defaultConfig({})).runtime).toBe("crun");
    expect(parseFlags(["--runtime=crun"], defaultConfig({})).runtime).toBe("crun");
    expect(USAGE).toContain("--runtime NAME");
  });

  it("refuses any other runtime with a clear error", () => {
    expect(() => parseFlags(["--runtime", "runsc"], defaultConfig({}))).toThrow(
      'option --runtime takes one of crun, got "runsc"',
    );
    expect(() => defaultConfig({ SBX_RUNTIME: "firecracker" })).toThrow(
      'option SBX_RUNTIME takes one of crun, got "firecracker"',
    );
  });
});
