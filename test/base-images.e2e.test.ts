// End-to-end test of the real base image path: mmdebstrap (or the tar cached in /var/cache/sbx/bases
// by an earlier run), the content store, unpack and uid shift. Needs root and Debian's archive.
import { existsSync, lstatSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BaseImages, type BaseImage } from "../packages/daemon/src/build/base-images.js";
import { UBUNTU_KEYRING } from "../packages/daemon/src/build/base-recipes.js";

const UID_BASE = 100000;
const CACHE_DIR = "/var/cache/sbx/bases";

describe("base images (real mmdebstrap)", () => {
  let dataDir: string;
  const log: string[] = [];
  const make = (): BaseImages =>
    new BaseImages({ dataDir, cacheDir: CACHE_DIR, uidBase: UID_BASE, log: (l) => log.push(l) });

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "sbx-e2e-bases-"));
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  let first: BaseImage;
  it("builds debian-minimal into a uid-shifted rootfs", { timeout: 600_000 }, async () => {
    const bases = make();
    first = await bases.ensure("debian-minimal");
    const aptGet = join(first.rootfs, "usr/bin/apt-get");
    expect(existsSync(aptGet)).toBe(true);
    expect(lstatSync(aptGet).uid).toBe(UID_BASE);
    expect(lstatSync(first.rootfs).uid).toBe(UID_BASE);
    const resolv = lstatSync(join(first.rootfs, "etc/resolv.conf"));
    expect(resolv.isFile() && resolv.size).toBe(0);
    expect(first.config.systemd).toBe(false);
    expect(first.digest).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(bases.list().map((b) => b.name)).toEqual(["debian-minimal"]);
  });

  it("reuses it on the next ensure without running mmdebstrap", async () => {
    const bases = make();
    const before = log.length;
    const again = await bases.ensure("debian-minimal");
    expect(again).toEqual(first);
    expect(bases.builds).toBe(0);
    expect(log.slice(before).some((l) => l.includes("mmdebstrap"))).toBe(false);
  });

  it(
    "reports ubuntu-minimal as unavailable, naming the mirror, when it cannot be built here",
    { timeout: 600_000 },
    async () => {
      const outcome = await make()
        .ensure("ubuntu-minimal")
        .then(
          (img) => ({ img }),
          (err: unknown) => ({ err }),
        );
      if ("img" in outcome) {
        // A host that reaches archive.ubuntu.com and has the Ubuntu keyring really builds it.
        expect(existsSync(UBUNTU_KEYRING)).toBe(true);
        expect(existsSync(join(outcome.img.rootfs, "usr/bin/apt-get"))).toBe(true);
        return;
      }
      expect(outcome.err).toMatchObject({ code: "base_image_unavailable" });
      expect((outcome.err as Error).message).toContain("http://archive.ubuntu.com/ubuntu");
    },
  );
});
