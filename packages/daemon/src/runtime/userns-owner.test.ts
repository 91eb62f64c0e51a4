// The sandbox user-namespace holder against the real helper (compiled here from native/sbx-userns.c;
// gcc comes with setup-host.sh): the namespace's member runs as the base uid with the asked maps,
// bad ranges and a missing helper are coded errors, and release ends the holder.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UsernsOwner } from "./userns-owner.js";

let dir: string;
let helper: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "sbx-userns-test-"));
  helper = join(dir, "sbx-userns");
  const src = fileURLToPath(new URL("../../native/sbx-userns.c", import.meta.url));
  execFileSync("gcc", ["-O2", "-Wall", "-o", helper, src], { stdio: "pipe" });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 500 && existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 10));
  return !existsSync(`/proc/${pid}`);
}

describe("UsernsOwner (sbx-userns)", () => {
  it("makes a user namespace whose member runs as the base uid, mapped 0 -> base", async () => {
    const base = 3_900_000;
    const owner = await UsernsOwner.create(helper, base, 65_536);
    try {
      const status = readFileSync(`/proc/${owner.pid}/status`, "utf8");
      // Seen from the host: real, effective, saved and fs uid are all the base (not root).
      expect(/^Uid:\s+(.*)$/m.exec(status)?.[1]?.split(/\s+/)).toEqual(Array(4).fill(String(base)));
      expect(/^Groups:[ \t]*(.*)$/m.exec(status)?.[1]?.trim()).toBe("");
      expect(readFileSync(`/proc/${owner.pid}/uid_map`, "utf8").trim().split(/\s+/)).toEqual([
        "0",
        String(base),
        "65536",
      ]);
      expect(readFileSync(`/proc/${owner.pid}/gid_map`, "utf8").trim().split(/\s+/)).toEqual([
        "0",
        String(base),
        "65536",
      ]);
      expect(readlinkSync(owner.path)).not.toBe(readlinkSync("/proc/self/ns/user"));
    } finally {
      owner.release();
    }
    expect(await gone(owner.pid)).toBe(true);
  });

  it("refuses root's ids and a missing helper with coded errors", async () => {
    await expect(UsernsOwner.create(helper, 0, 65_536)).rejects.toMatchObject({
      code: "runtime_error",
      message: expect.stringContaining("out of bounds"),
    });
    await expect(UsernsOwner.create(join(dir, "missing"), 3_900_000, 65_536)).rejects.toMatchObject({
      code: "runtime_error",
    });
  });
});
