// File capabilities from imported layers: re-owned by the sandboxes' root so the host ignores them.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { sandboxCapability } from "./whiteouts.js";

/** vfs_cap_data: magic_etc, then permitted/inheritable pairs, then (v3) the owning root uid. */
function cap(magic: number, permitted: number, rootid?: number): Buffer {
  const b = Buffer.alloc(rootid === undefined ? 20 : 24);
  b.writeUInt32LE(magic >>> 0, 0);
  b.writeUInt32LE(permitted, 4);
  if (rootid !== undefined) b.writeUInt32LE(rootid, 20);
  return b;
}

describe("sandboxCapability", () => {
  it("turns v2 (host-wide) capabilities into v3 owned by uidBase, keeping the sets and the effective bit", () => {
    const out = sandboxCapability(cap(0x02000001, 1 << 7), 100000)!;
    expect([out.length, out.readUInt32LE(0), out.readUInt32LE(4), out.readUInt32LE(20)]).toEqual([
      24,
      0x03000001,
      1 << 7,
      100000,
    ]);
  });

  it("shifts a v3 rootid into the sandbox range and drops what cannot be mapped", () => {
    expect(sandboxCapability(cap(0x03000000, 1, 5), 100000)!.readUInt32LE(20)).toBe(100005);
    expect(sandboxCapability(cap(0x03000000, 1, 70000), 100000)).toBeUndefined();
    expect(sandboxCapability(cap(0x01000000, 1), 100000)).toBeUndefined();
    expect(sandboxCapability(Buffer.from("junk"), 100000)).toBeUndefined();
  });

  it("is what the kernel keeps when host root writes it: a v3 capability for uid 100000, not a host one", () => {
    const dir = mkdtempSync(join(tmpdir(), "sbx-cap-"));
    try {
      const file = join(dir, "bin");
      writeFileSync(file, "");
      const value = sandboxCapability(cap(0x02000001, 1 << 7), 100000)!;
      execFileSync("setfattr", ["-n", "security.capability", "-v", `0x${value.toString("hex")}`, file]);
      const stored = Buffer.from(
        execFileSync("getfattr", ["-e", "hex", "-n", "security.capability", "--only-values", file]).toString("hex"),
        "hex",
      );
      // --only-values prints the raw bytes.
      expect(stored.readUInt32LE(0) >>> 24).toBe(3);
      expect(stored.readUInt32LE(20)).toBe(100000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
