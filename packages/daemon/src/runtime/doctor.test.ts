// Unit tests of `sbxd doctor`: runDoctor on this host (every check present, each failure carrying a
// fix), the Node check, the cgroup check on fixed trees, and which gzip layer exports get.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { checkCgroups, checkNode, runDoctor, type DoctorCheck } from "./doctor.js";
import { cgroupVersion } from "./host-facts.js";

describe("node check", () => {
  it("checks the Node version", () => {
    expect(checkNode("20.18.1").ok).toBe(true);
    expect(checkNode("20.20.2").ok).toBe(true);
    expect(checkNode("20.14.0")).toMatchObject({ ok: false, fix: "install Node 20.18.1 or newer" });
    expect(checkNode("22.1.0").ok).toBe(true);
    expect(checkNode("18.19.1")).toMatchObject({ ok: false, fix: expect.any(String) });
  });
});

describe.skipIf(cgroupVersion() !== 1)("cgroup check on a v1 hybrid host", () => {
  it("fails with the setup script as the fix while a controller sits on the cgroup2 mount", async () => {
    const root = mkdtempSync(join(tmpdir(), "sbx-cg-"));
    try {
      mkdirSync(join(root, "unified"));
      writeFileSync(join(root, "unified", "cgroup.controllers"), "hugetlb\n");
      const c = await checkCgroups(root);
      expect(c).toMatchObject({
        ok: false,
        detail: expect.stringContaining("hugetlb"),
        fix: expect.stringContaining("scripts/setup-host.sh"),
      });
      writeFileSync(join(root, "unified", "cgroup.controllers"), "");
      expect((await checkCgroups(root)).detail).not.toContain("hugetlb");
    } finally {
      rmSync(root, { recursive: true });
    }
  });
});

describe("runDoctor", () => {
  it("runs every check and gives each failure a one-line fix", async () => {
    const checks = await runDoctor({ dataDir: "/nonexistent/sbx-data", agentPath: "/nonexistent/sbx-agent" });
    const names = checks.map((c) => c.name);
    for (const n of [
      "root",
      "crun",
      "catatonit",
      "sbx-agent",
      "busybox-static",
      "mmdebstrap",
      "overlayfs",
      "cgroups",
      "user namespaces",
      "nft",
      "ip",
      "disk",
      "node",
    ]) {
      expect(names).toContain(n);
    }
    for (const c of checks) {
      expect(c.detail.length).toBeGreaterThan(0);
      if (!c.ok) {
        expect(c.fix, c.name).toBeTruthy();
        expect(c.fix).not.toContain("\n");
      }
    }
    expect(checks.find((c) => c.name === "node")?.ok).toBe(true);
    // An optional feature that is missing is a warning, never a plain tick that says "not available".
    for (const c of checks.filter((x) => x.detail.startsWith("not available")))
      expect(c, c.name).toMatchObject({ ok: true, warning: true });
    expect(checks.find((c) => c.name === "sbx-agent")).toMatchObject({
      ok: false,
      fix: expect.stringContaining("musl-tools"),
    });
    // The disk check measures the nearest existing parent of a data dir that does not exist yet.
    expect(checks.find((c) => c.name === "disk")?.detail).toContain("/nonexistent/sbx-data");
  });
});

describe("layer compressor check", () => {
  const BIN = fileURLToPath(new URL("../../deflate/bin/sbx-deflate", import.meta.url));
  const compressor = async (deflatePath: string | null): Promise<DoctorCheck | undefined> =>
    (await runDoctor({ dataDir: tmpdir(), deflatePath })).find((c) => c.name === "layer compressor");

  it("names sbx-deflate with its libdeflate version, as the daemon finds it (npm run build makes it)", async () => {
    const c = await compressor(BIN);
    expect(c).toMatchObject({ ok: true, detail: `${spawnSync(BIN, ["--version"]).stdout.toString().trim()} (${BIN})` });
    expect(c?.detail).toMatch(/^sbx-deflate framing 1 libdeflate [0-9.]+ /);
    expect(c?.warning).toBeUndefined();
  });

  it("says zlib and why: turned off is fine, missing is a warning that says how to build it", async () => {
    expect(await compressor(null)).toEqual({
      name: "layer compressor",
      ok: true,
      detail: "zlib in the daemon (slower exports): turned off (SBX_DEFLATE=off)",
    });
    expect(await compressor("/nonexistent/sbx-deflate")).toMatchObject({
      ok: true,
      warning: true,
      detail: expect.stringMatching(/^zlib .*\/nonexistent\/sbx-deflate is not built \(apt-get install libdeflate-dev/),
    });
  });
});
