// Unit tests of the host facts: the pure parsers on fixed text and this host's answers.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cgroupVersion, hostNofileHardLimit, isStaticElf, staticHelpers } from "./host-facts.js";

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
});
