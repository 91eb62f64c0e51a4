// What a sandbox learns about the host from its mount table (F15 of the second security round).
// Its root overlay was mounted with absolute layer paths, which the kernel shows in the overlay's
// options: the host's data dir, the sandbox's id and every layer's digest. It is now mounted with
// paths relative to the sandbox's dir, and mount sources are neutral names (sbx-root, sbx-logs).
import { describe, expect, it } from "vitest";
import { useSandbox } from "../fixtures.js";
import { testDaemonRoot } from "../harness.js";

const sandbox = useSandbox();

describe("a sandbox's /proc/self/mountinfo", () => {
  it("shows no host path, sandbox id or layer digest in its root filesystem's mount", async () => {
    const sb = sandbox();
    const r = await sb.run("cat", { args: ["/proc/self/mountinfo"] });
    expect(r.exitCode).toBe(0);
    const root = r.stdout.split("\n").find((l) => l.includes(" / / ") && l.includes(" - overlay "));
    expect(root).toBeDefined();
    expect(root).toContain(" - overlay sbx-root ");
    expect(root).toMatch(/lowerdir=lower\/0[,:]/);
    expect(root).not.toContain(testDaemonRoot("shared"));
    expect(root).not.toContain(sb.id);
    expect(root).not.toMatch(/[0-9a-f]{64}/);
    // No mount anywhere in it names a layer by its digest.
    expect(r.stdout).not.toMatch(/layers\/[0-9a-f]{64}/);
  });
});
