// Unit tests of the host checks: the pure parsers on fixed text, and runDoctor on this host (every
// check present, each failure carrying a fix).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cgroupVersion, checkCgroups, checkNode, filterResolvConf, hostNofileHardLimit, hostResolvConf, isStaticElf, runDoctor, staticHelpers } from "./host-checks.js";

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            1024                 20000                files
Max locked memory         8388608              8388608              bytes
`;

describe("host facts", () => {
  it("parses the hard NOFILE limit", () => {
    expect(hostNofileHardLimit(LIMITS)).toBe(20000);
    expect(hostNofileHardLimit()).toBeGreaterThan(0);
    // Unparsable text falls back to the kernel ceiling rather than a made-up number.
    expect(hostNofileHardLimit("Max open files unlimited unlimited files")).toBeGreaterThan(0);
  });

  it("drops loopback nameservers and keeps the rest", () => {
    const text = "# generated\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nnameserver ::1\nnameserver 2001:db8::1\nsearch corp.example\noptions edns0 trust-ad\n";
    expect(filterResolvConf(text)).toBe("# generated\nnameserver 10.0.0.2\nnameserver 2001:db8::1\nsearch corp.example\noptions edns0 trust-ad\n");
    expect(filterResolvConf("nameserver 127.0.0.1")).toBe("\n");
  });

  it("gives sandboxes at least one non-loopback nameserver", () => {
    const conf = hostResolvConf();
    expect(conf).toMatch(/^nameserver\s+\S+/m);
    expect(conf).not.toMatch(/^nameserver\s+(127\.|::1\b)/m);
  });

  it("knows the cgroup version", () => {
    expect([1, 2]).toContain(cgroupVersion());
  });

  it("tells static from dynamic executables", () => {
    expect(isStaticElf(process.execPath)).toBe(false);
    expect(isStaticElf("/etc/hostname")).toBe(false);
    expect(isStaticElf("/nonexistent")).toBe(false);
    const dir = mkdtempSync(join(tmpdir(), "sbx-elf-"));
    try {
      writeFileSync(join(dir, "short"), "\x7fELF");
      expect(isStaticElf(join(dir, "short"))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true });
    }
    const { catatonit, busybox } = staticHelpers();
    if (catatonit) expect(isStaticElf(catatonit)).toBe(true);
    if (busybox) expect(isStaticElf(busybox)).toBe(true);
  });

  it("checks the Node version", () => {
    expect(checkNode("20.12.0").ok).toBe(true);
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
      expect(c).toMatchObject({ ok: false, detail: expect.stringContaining("hugetlb"), fix: expect.stringContaining("scripts/setup-host.sh") });
      writeFileSync(join(root, "unified", "cgroup.controllers"), "");
      expect((await checkCgroups(root)).detail).not.toContain("hugetlb");
    } finally {
      rmSync(root, { recursive: true });
    }
  });
});

describe("runDoctor", () => {
  it("runs every check and gives each failure a one-line fix", async () => {
    const checks = await runDoctor({ dataDir: "/nonexistent/sbx-data" });
    const names = checks.map((c) => c.name);
    for (const n of ["root", "crun", "catatonit", "busybox-static", "mmdebstrap", "overlayfs", "cgroups", "user namespaces", "nft", "ip", "disk", "node"]) {
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
    // The disk check measures the nearest existing parent of a data dir that does not exist yet.
    expect(checks.find((c) => c.name === "disk")?.detail).toContain("/nonexistent/sbx-data");
  });
});
