// The sandbox user-namespace holder against the real helper (compiled here from native/sbx-userns.c;
// gcc comes with setup-host.sh): the namespace's member runs as the base uid with the asked maps,
// bad ranges and a missing helper are coded errors, and release ends the holder. With `net` the
// holder's network namespace is owned by its user namespace; a helper older than `net` still works.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
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

  it("with net, makes a network namespace owned by the sandbox's user namespace", async () => {
    const owner = await UsernsOwner.create(helper, 3_900_000, 65_536, { net: true });
    try {
      expect(owner.netPath).toBe(`/proc/${owner.pid}/ns/net`);
      expect(readlinkSync(owner.netPath!)).not.toBe(readlinkSync("/proc/self/ns/net"));
      // Owned by the sandbox's namespace, as if crun had made it there: its root may configure it.
      const ons = execFileSync("lsns", ["-n", "-t", "net", "-p", String(owner.pid), "-o", "ONS"], { encoding: "utf8" });
      expect(`user:[${ons.trim()}]`).toBe(readlinkSync(owner.path));
    } finally {
      owner.release();
    }
    expect(await gone(owner.pid)).toBe(true);
    // Without net, crun makes the netns: the holder shares the host's.
    const plain = await UsernsOwner.create(helper, 3_900_000, 65_536);
    try {
      expect(plain.netPath).toBeUndefined();
      expect(readlinkSync(`/proc/${plain.pid}/ns/net`)).toBe(readlinkSync("/proc/self/ns/net"));
    } finally {
      plain.release();
    }
  });

  it("falls back to no netns with a helper older than net, asking it only once", async () => {
    // The old helper's exact refusal of a third argument; two arguments go to the real one.
    const calls = join(dir, "old-calls");
    const old = join(dir, "sbx-userns-old");
    writeFileSync(
      old,
      `#!/bin/sh\necho "$#" >> ${calls}\n[ $# -eq 2 ] || { echo "usage: sbx-userns BASE COUNT" >&2; exit 2; }\nexec ${helper} "$@"\n`,
      { mode: 0o755 },
    );
    for (let i = 0; i < 2; i++) {
      const owner = await UsernsOwner.create(old, 3_900_000, 65_536, { net: true });
      expect(owner.netPath).toBeUndefined();
      expect(readlinkSync(owner.path)).not.toBe(readlinkSync("/proc/self/ns/user"));
      owner.release();
    }
    expect(readFileSync(calls, "utf8").split("\n").filter(Boolean)).toEqual(["3", "2", "2"]);
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
