import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { dropTraverseAcl } from "./legacy-traverse-acl.js";
import { stageDir, stagedResolvConf } from "./sandbox-stage.js";

describe("sandbox stage", () => {
  it("opens the rw tmpfs root to search only, and finds resolv.conf where the sandbox's daemon put it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sbx-stage-"));
    mkdirSync(join(dir, "rw"), { mode: 0o700 });
    // An older daemon's sandbox: resolv.conf in its dir.
    writeFileSync(join(dir, "resolv.conf"), "");
    expect(stagedResolvConf(dir)).toBe(join(dir, "resolv.conf"));
    expect(await stageDir(dir, true)).toBe(join(dir, "rw"));
    expect(statSync(join(dir, "rw")).mode & 0o777).toBe(0o700);
    await stageDir(dir, false);
    expect(statSync(join(dir, "rw")).mode & 0o777).toBe(0o711);
    writeFileSync(join(dir, "rw", "resolv.conf"), "");
    expect(stagedResolvConf(dir)).toBe(join(dir, "rw", "resolv.conf"));
  });
});

describe("dropTraverseAcl", () => {
  it("removes the per-range ACL an older daemon left on the shared dirs, and is fine without one", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sbx-acl-"));
    const plain = mkdtempSync(join(tmpdir(), "sbx-acl-"));
    // posix_acl_xattr v2: user::rwx, user:300000:--x, user:365536:--x, group::---, mask::--x, other::---.
    const entries = [
      [0x01, 7, 0xffffffff],
      [0x02, 1, 300000],
      [0x02, 1, 365536],
      [0x04, 0, 0xffffffff],
      [0x10, 1, 0xffffffff],
      [0x20, 0, 0xffffffff],
    ];
    const acl = Buffer.alloc(4 + entries.length * 8);
    acl.writeUInt32LE(2, 0);
    entries.forEach(([tag, perm, id], i) => {
      acl.writeUInt16LE(tag!, 4 + i * 8);
      acl.writeUInt16LE(perm!, 6 + i * 8);
      acl.writeUInt32LE(id!, 8 + i * 8);
    });
    const value = "0x" + acl.toString("hex");
    const set = spawnSync("setfattr", ["-n", "system.posix_acl_access", "-v", value, dir], { encoding: "utf8" });
    expect(set.status, set.stderr).toBe(0);
    const get = () => spawnSync("getfattr", ["-n", "system.posix_acl_access", dir], { encoding: "utf8" });
    expect(get().status).toBe(0);
    await dropTraverseAcl([dir, plain]);
    expect(get().stderr).toMatch(/No such attribute/);
  });
});
