// Unit tests of the base recipes: host suite/mirror detection, the mmdebstrap argv, the recipe
// hash, the mirror preflight, and the uid shift helper used on unpacked rootfs trees.
import {
  chmodSync,
  chownSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { checkMirror } from "./base-build.js";
import {
  baseRecipes,
  hostDebian,
  mmdebstrapArgs,
  parseAptSources,
  recipeHash,
  UBUNTU_KEYRING,
  type BaseRecipe,
} from "./base-recipes.js";
import { shiftOwnership } from "./rootfs-tree.js";

const DEB822 = `Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian/
Suites: trixie trixie-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://security.example.org/debian-security
Suites: trixie-security
Components: main
`;

describe("host detection", () => {
  it("reads the suite from os-release and the mirror from deb822 sources", () => {
    const h = hostDebian({ osRelease: "ID=debian\nVERSION_CODENAME=trixie\n", sources: [DEB822] });
    expect(h).toEqual({
      suite: "trixie",
      mirror: "http://deb.debian.org/debian",
      securityMirror: "http://security.example.org/debian-security",
    });
  });

  it("reads one-line sources.list, with options and comments", () => {
    const list =
      "# comment\ndeb-src http://src.example/debian bookworm main\ndeb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main # hi\n";
    expect(parseAptSources(list)).toEqual([{ uri: "http://mirror.example/debian", suites: ["bookworm"] }]);
    const h = hostDebian({ osRelease: 'ID=debian\nVERSION_CODENAME="bookworm"\n', sources: [list] });
    expect(h).toEqual({ suite: "bookworm", mirror: "http://mirror.example/debian", securityMirror: undefined });
  });

  it("takes the configured mirrors over the host's (SBX_DEBIAN_MIRROR, SBX_UBUNTU_MIRROR)", () => {
    const h = hostDebian({ osRelease: "ID=debian\nVERSION_CODENAME=trixie\n", sources: [DEB822] }, "http://m.test/d/");
    expect(h.mirror).toBe("http://m.test/d");
    const mine = baseRecipes(h, "http://u.test/ubuntu/");
    expect((mine.get("ubuntu-minimal") as BaseRecipe).mirror).toBe("http://u.test/ubuntu");
    expect((mine.get("debian-minimal") as BaseRecipe).mirror).toBe("http://m.test/d");
  });

  it("falls back to bookworm on deb.debian.org on a non-Debian host", () => {
    const h = hostDebian({ osRelease: "ID=ubuntu\nVERSION_CODENAME=noble\n", sources: [""] });
    expect(h).toEqual({
      suite: "bookworm",
      mirror: "http://deb.debian.org/debian",
      securityMirror: "http://deb.debian.org/debian-security",
    });
  });
});

describe("recipes", () => {
  const recipes = baseRecipes({
    suite: "bookworm",
    mirror: "http://deb.debian.org/debian",
    securityMirror: "http://deb.debian.org/debian-security",
  });
  const get = (n: string): BaseRecipe => recipes.get(n) as BaseRecipe;

  it("has the four bases", () => {
    expect([...recipes.keys()]).toEqual(["debian-minimal", "debian-systemd", "ubuntu-minimal", "ubuntu-systemd"]);
  });

  it("builds debian-minimal with minbase from the host's archive", () => {
    const args = mmdebstrapArgs(get("debian-minimal"), "/tmp/out.tar");
    expect(args.slice(0, 3)).toEqual(["--variant=minbase", "--mode=root", "--format=tar"]);
    expect(args.some((a) => a.startsWith("--include="))).toBe(false);
    expect(args.some((a) => a.startsWith("--keyring="))).toBe(false);
    expect(args).toContain("--dpkgopt=path-exclude=/usr/share/doc/*");
    const tail = args.slice(args.indexOf("bookworm"));
    expect(tail).toEqual([
      "bookworm",
      "/tmp/out.tar",
      "deb http://deb.debian.org/debian bookworm main",
      "deb http://deb.debian.org/debian bookworm-updates main",
      "deb http://deb.debian.org/debian-security bookworm-security main",
    ]);
  });

  it("adds systemd to the systemd bases and marks their config", () => {
    const r = get("debian-systemd");
    expect(mmdebstrapArgs(r, "o")).toContain("--include=systemd,systemd-sysv,dbus");
    expect(r.config).toMatchObject({ systemd: true, init: ["/sbin/init"] });
    expect(get("debian-minimal").config.systemd).toBe(false);
    expect(get("debian-minimal").config.init).toBeUndefined();
  });

  it("builds ubuntu from noble on archive.ubuntu.com with the ubuntu keyring", () => {
    const r = get("ubuntu-minimal");
    expect(r.mirror).toBe("http://archive.ubuntu.com/ubuntu");
    const args = mmdebstrapArgs(r, "o");
    expect(args).toContain(`--keyring=${UBUNTU_KEYRING}`);
    expect(args).toContain("deb http://archive.ubuntu.com/ubuntu noble main universe");
    expect(args).toContain("--include=apt,ubuntu-keyring");
    expect(mmdebstrapArgs(get("ubuntu-systemd"), "o")).toContain(
      "--include=apt,ubuntu-keyring,systemd,systemd-sysv,dbus",
    );
  });

  it("hashes the recipe: stable, independent of the output path, different per recipe and per host suite", () => {
    const h = recipeHash(get("debian-minimal"));
    expect(h).toMatch(/^[a-f0-9]{16}$/);
    expect(recipeHash(get("debian-minimal"))).toBe(h);
    expect(new Set([...recipes.values()].map(recipeHash)).size).toBe(4);
    const trixie = baseRecipes({ suite: "trixie", mirror: "http://deb.debian.org/debian" });
    expect(recipeHash(trixie.get("debian-minimal") as BaseRecipe)).not.toBe(h);
    expect(recipeHash({ ...get("debian-minimal"), include: ["curl"] })).not.toBe(h);
  });
});

describe("checkMirror", () => {
  it("fails fast with base_image_unavailable naming the mirror when nothing listens", async () => {
    const started = Date.now();
    const err = await checkMirror("http://127.0.0.1:9/ubuntu", "noble", 2000).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: "base_image_unavailable",
      message: expect.stringContaining("http://127.0.0.1:9/ubuntu"),
    });
    expect(Date.now() - started).toBeLessThan(3000);
  });
});

describe.skipIf(process.getuid?.() !== 0)("shiftOwnership", () => {
  it("shifts and un-shifts a tree, once per hardlinked inode, keeping setuid/setgid", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sbx-shift-"));
    try {
      mkdirSync(join(dir, "d"));
      chmodSync(join(dir, "d"), 0o2775);
      writeFileSync(join(dir, "d/suid"), "x");
      chmodSync(join(dir, "d/suid"), 0o6755);
      writeFileSync(join(dir, "a"), "a");
      linkSync(join(dir, "a"), join(dir, "d/b"));
      chownSync(join(dir, "a"), 42, 43);
      symlinkSync("/nonexistent", join(dir, "dangling"));
      const r = await shiftOwnership(dir, 100000);
      expect(r).toEqual({ entries: 5, hardlinksSkipped: 1 });
      expect([lstatSync(join(dir, "a")).uid, lstatSync(join(dir, "a")).gid]).toEqual([100042, 100043]);
      expect(lstatSync(join(dir, "d/suid")).mode & 0o7777).toBe(0o6755);
      expect(lstatSync(join(dir, "d")).mode & 0o7777).toBe(0o2775);
      expect(lstatSync(join(dir, "dangling")).uid).toBe(100000);
      await shiftOwnership(dir, -100000);
      expect([lstatSync(join(dir, "a")).uid, lstatSync(dir).uid, lstatSync(join(dir, "d/suid")).mode & 0o7777]).toEqual(
        [42, 0, 0o6755],
      );
      chownSync(join(dir, "a"), 70000, 0);
      await expect(shiftOwnership(dir, 100000)).rejects.toMatchObject({ code: "invalid_archive" });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
