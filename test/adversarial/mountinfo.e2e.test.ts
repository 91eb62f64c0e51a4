// What a sandbox learns about the host from its mount table (F15 of the second security round).
// Its root overlay was mounted with absolute layer paths, which the kernel shows in the overlay's
// options: the host's data dir, the sandbox's id and every layer's digest. It is now mounted with
// paths relative to the sandbox's dir, and mount sources are neutral names (sbx-root, sbx-logs).
// Bind mounts show their source's path inside its filesystem: the helper binaries are bound from
// the daemon's sbx-tools tmpfs, resolv.conf and the agent's socket dir from the sandbox's sbx-rw.
import { describe, expect, it } from "vitest";
import { useSandbox } from "../fixtures.js";
import { REPO, testDaemonRoot } from "../harness.js";

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

  it("shows no host path in any bind mount: helpers, the agent's dirs and resolv.conf come from sbx's own tmpfs", async () => {
    const sb = sandbox();
    const r = await sb.run("cat", { args: ["/proc/self/mountinfo"] });
    expect(r.exitCode).toBe(0);
    const mounts = r.stdout
      .trim()
      .split("\n")
      .map((l) => {
        const [pre, post] = l.split(" - ");
        const f = pre!.split(" ");
        return { root: f[3]!, at: f[4]!, source: post!.split(" ")[1]!, line: l };
      });
    const at = (p: string) => mounts.find((m) => m.at === p);
    // Each bind shows its source's path inside its filesystem: a file or dir at the top of a tmpfs
    // named for what it is, never a path under the host's data dir, /usr or the checkout.
    expect(at("/.sbx/init")).toMatchObject({ root: "/init", source: "sbx-tools" });
    expect(at("/.sbx/busybox")).toMatchObject({ root: "/busybox", source: "sbx-tools" });
    expect(at("/.sbx/agent")).toMatchObject({ root: "/agent", source: "sbx-tools" });
    expect(at("/.sbx/run")).toMatchObject({ root: "/agent", source: "sbx-rw" });
    expect(at("/.sbx/logs")).toMatchObject({ root: "/", source: "sbx-logs" });
    expect(at("/etc/resolv.conf")).toMatchObject({ root: "/resolv.conf", source: "sbx-rw" });
    for (const m of mounts) {
      expect(m.root, m.line).toMatch(/^\/[^/]*$/);
      for (const host of [testDaemonRoot("shared"), REPO, sb.id, "/usr/"]) expect(m.line).not.toContain(host);
    }
  });
});
