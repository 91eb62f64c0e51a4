// Base images and their state on this host: `sbx image ls` and the SDK say which bases are built,
// which are built on first use, and which cannot be built here (ubuntu-* without ubuntu-keyring).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { sharedClient } from "./fixtures.js";
import { REPO } from "./harness.js";

const host = inject("sbxHost");
const UBUNTU_KEYRING = "/usr/share/keyrings/ubuntu-archive-keyring.gpg";

describe("base image states", () => {
  it("marks the default base ready and ubuntu bases unbuildable exactly when the keyring is missing", async () => {
    const bases = await sharedClient().listBaseImages();
    const by = new Map(bases.map((b) => [b.name, b]));
    expect(by.get("debian-minimal")?.state).toBe("ready");
    const ubuntu = by.get("ubuntu-minimal")!;
    if (existsSync(UBUNTU_KEYRING)) expect(ubuntu.state).not.toBe("unavailable");
    else expect(ubuntu).toMatchObject({ state: "unavailable", reason: expect.stringContaining("ubuntu-keyring") });

    const r = spawnSync(process.execPath, [join(REPO, "packages", "cli", "bin", "sbx.js"), "image", "ls"], {
      env: { ...process.env, SBX_HOST: host },
      encoding: "utf8",
    });
    expect(r.status).toBe(0);
    for (const b of bases.filter((x) => x.state !== "ready")) {
      const kind = b.state === "buildable" ? "base (built on first use)" : "base (not buildable here)";
      expect(r.stdout).toMatch(new RegExp(`^${b.name}\\s.*${kind.replace(/[()]/g, "\\$&")}`, "m"));
      if (b.state === "unavailable") expect(r.stderr).toContain(`${b.name} cannot be built on this host: ${b.reason}`);
    }
    expect(r.stdout).toMatch(/^debian-minimal\s.*\sbase\s/m);
  });
});
