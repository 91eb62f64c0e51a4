// Unit tests of BaseImages with a fake builder that tars a tiny hand-made rootfs (no mmdebstrap):
// caching, reuse, uid shifting (hardlinks once, setuid kept), the unshifted blob, concurrency, errors.
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BlobStore } from "../content/blob-store.js";
import { BaseImages, type BaseImageBuilder } from "./base-images.js";
import { baseRecipes, recipeHash, type BaseRecipe } from "./base-recipes.js";

const UID_BASE = 100000;
const isRoot = process.getuid?.() === 0;

/** A builder that writes a small rootfs with the awkward cases: setuid, setgid dir, hardlinks, odd owners, apt leftovers. */
function fakeBuilder(counter: { n: number }, delayMs = 0): BaseImageBuilder {
  return async (recipe, outTar) => {
    counter.n++;
    if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
    const src = `${outTar}.src`;
    for (const d of ["etc", "usr/bin", "var/mail", "var/lib/apt/lists/partial", "var/cache/apt", "home/user"])
      mkdirSync(join(src, d), { recursive: true });
    writeFileSync(join(src, "etc/os-release"), `NAME=fake ${recipe.name} ${counter.n}\n`);
    symlinkSync("/run/systemd/resolve/stub-resolv.conf", join(src, "etc/resolv.conf"));
    writeFileSync(join(src, "usr/bin/passwd"), "#!/bin/true\n");
    chmodSync(join(src, "usr/bin/passwd"), 0o4755);
    writeFileSync(join(src, "usr/bin/perl"), "perl");
    linkSync(join(src, "usr/bin/perl"), join(src, "usr/bin/perl5.36.0"));
    linkSync(join(src, "usr/bin/perl"), join(src, "usr/bin/perlbug"));
    symlinkSync("perl", join(src, "usr/bin/perl-link"));
    chownSync(join(src, "var/mail"), 0, 8);
    chmodSync(join(src, "var/mail"), 0o2775);
    chownSync(join(src, "home/user"), 1000, 1000);
    writeFileSync(join(src, "var/lib/apt/lists/deb.debian.org_Packages"), "x".repeat(1000));
    writeFileSync(join(src, "var/cache/apt/pkgcache.bin"), "cache");
    writeFileSync(join(src, "var/cache/apt/keep.txt"), "keep");
    const r = spawnSync("tar", ["--numeric-owner", "-cf", outTar, "-C", src, "."], { encoding: "utf8" });
    spawnSync("rm", ["-rf", src]);
    if (r.status !== 0) throw new Error(`tar failed: ${r.stderr}`);
  };
}

describe.skipIf(!isRoot)("BaseImages (fake builder)", () => {
  let dir: string;
  let recipes: Map<string, BaseRecipe>;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "sbx-bases-"));
    recipes = baseRecipes({ suite: "bookworm", mirror: "http://deb.debian.org/debian" });
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const make = (
    counter: { n: number },
    extra: { delayMs?: number; log?: string[]; builder?: BaseImageBuilder } = {},
  ): BaseImages =>
    new BaseImages({
      dataDir: join(dir, "data"),
      cacheDir: join(dir, "cache"),
      uidBase: UID_BASE,
      recipes,
      builder: extra.builder ?? fakeBuilder(counter, extra.delayMs),
      log: (l) => extra.log?.push(l),
    });

  it("builds, caches, stores the unshifted tar and unpacks a shifted rootfs", async () => {
    const counter = { n: 0 };
    const bases = make(counter);
    expect(bases.get("debian-minimal")).toBeUndefined();
    const img = await bases.ensure("debian-minimal");
    expect(counter.n).toBe(1);
    expect(bases.builds).toBe(1);
    expect(img.name).toBe("debian-minimal");
    expect(img.digest).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(img.rootfs).toBe(join(dir, "data", "layers", img.digest.slice(7), "rootfs"));
    expect(img.config).toEqual({
      env: [expect.stringMatching(/^PATH=/)],
      workingDir: "/",
      user: "root",
      systemd: false,
    });

    const cache = join(
      dir,
      "cache",
      `debian-minimal-${recipeHash(recipes.get("debian-minimal") as BaseRecipe)}.tar.zst`,
    );
    expect(statSync(cache).size).toBeGreaterThan(0);

    // The blob is the builder's tar byte for byte, 0-based.
    const blobs = new BlobStore(join(dir, "data", "content"));
    expect(await blobs.stat(img.digest)).toEqual({ digest: img.digest, size: img.sizeBytes });
    const listing = spawnSync("tar", ["--numeric-owner", "-tvf", blobs.path(img.digest)], { encoding: "utf8" }).stdout;
    expect(listing).toMatch(/ 0\/0 .* \.\/usr\/bin\/passwd/);
    expect(listing).toMatch(/ 1000\/1000 .* \.\/home\/user\//);

    const at = (p: string) => lstatSync(join(img.rootfs, p));
    expect([at(".").uid, at(".").gid]).toEqual([UID_BASE, UID_BASE]);
    expect([at("usr/bin/passwd").uid, at("usr/bin/passwd").mode & 0o7777]).toEqual([UID_BASE, 0o4755]);
    expect([at("var/mail").gid, at("var/mail").mode & 0o7777]).toEqual([UID_BASE + 8, 0o2775]);
    expect([at("home/user").uid, at("home/user").gid]).toEqual([UID_BASE + 1000, UID_BASE + 1000]);
    for (const p of ["usr/bin/perl", "usr/bin/perl5.36.0", "usr/bin/perlbug"]) expect(at(p).uid, p).toBe(UID_BASE);
    expect(at("usr/bin/perl").nlink).toBe(3);
    expect(at("usr/bin/perl-link").isSymbolicLink() && at("usr/bin/perl-link").uid).toBe(UID_BASE);

    // Normalised: apt leftovers gone, resolv.conf a regular empty file.
    expect(await readdir(join(img.rootfs, "var/lib/apt/lists"))).toEqual([]);
    expect(await readdir(join(img.rootfs, "var/cache/apt"))).toEqual(["keep.txt"]);
    expect(at("etc/resolv.conf").isFile()).toBe(true);
    expect(at("etc/resolv.conf").size).toBe(0);
    expect(at("etc/resolv.conf").uid).toBe(UID_BASE);

    const meta = JSON.parse(readFileSync(join(img.rootfs, "..", "meta.json"), "utf8"));
    expect(meta).toMatchObject({
      digest: img.digest,
      uidBase: UID_BASE,
      name: "debian-minimal",
      sizeBytes: img.sizeBytes,
    });
    expect(bases.get("debian-minimal")).toEqual(img);
    expect(bases.list()).toEqual([img]);
  });

  it("reuses everything on a second ensure, in this process and the next", async () => {
    const counter = { n: 0 };
    const first = await make(counter).ensure("debian-minimal");
    const log: string[] = [];
    const again = make(counter, { log });
    expect(again.get("debian-minimal")).toEqual(first);
    expect(await again.ensure("debian-minimal")).toEqual(first);
    expect(counter.n).toBe(1);
    expect(again.builds).toBe(0);
    expect(log).toEqual([]);
  });

  it("rebuilds from the cached tar when the data dir is new, without running the builder", async () => {
    const counter = { n: 0 };
    const first = await make(counter).ensure("debian-minimal");
    await rm(join(dir, "data"), { recursive: true });
    const log: string[] = [];
    const second = await make(counter, { log }).ensure("debian-minimal");
    expect(counter.n).toBe(1);
    expect(second.digest).toBe(first.digest);
    expect(log.join("\n")).toMatch(/using cached/);
    expect(lstatSync(join(second.rootfs, "usr/bin/passwd")).uid).toBe(UID_BASE);
  });

  it("rebuilds when asked, and when the cached tar is corrupt", async () => {
    const counter = { n: 0 };
    const bases = make(counter);
    const a = await bases.ensure("debian-minimal");
    const b = await bases.ensure("debian-minimal", { rebuild: true });
    expect(counter.n).toBe(2);
    expect(b.digest).not.toBe(a.digest);
    expect(readFileSync(join(b.rootfs, "etc/os-release"), "utf8")).toContain(" 2");

    const cache = join(
      dir,
      "cache",
      `debian-minimal-${recipeHash(recipes.get("debian-minimal") as BaseRecipe)}.tar.zst`,
    );
    writeFileSync(cache, "not zstd");
    await rm(join(dir, "data"), { recursive: true });
    const c = await make(counter).ensure("debian-minimal");
    expect(counter.n).toBe(3);
    expect(statSync(c.rootfs).isDirectory()).toBe(true);
  });

  it("shares one build between concurrent ensures of the same name", async () => {
    const counter = { n: 0 };
    const bases = make(counter, { delayMs: 50 });
    const [x, y, z] = await Promise.all([
      bases.ensure("debian-minimal"),
      bases.ensure("debian-minimal"),
      bases.ensure("debian-minimal"),
    ]);
    expect(counter.n).toBe(1);
    expect(y).toEqual(x);
    expect(z).toEqual(x);
  });

  it("marks the systemd images", async () => {
    const img = await make({ n: 0 }).ensure("debian-systemd");
    expect(img.config).toMatchObject({ systemd: true, init: ["/sbin/init"] });
  });

  it("reports unknown names and builder failures with stable codes, and leaves no temp files", async () => {
    const bases = make({ n: 0 }, { builder: async () => Promise.reject(new Error("disk on fire")) });
    await expect(bases.ensure("nope")).rejects.toMatchObject({ code: "image_not_found" });
    const err = await bases.ensure("debian-minimal").catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "base_image_unavailable", message: expect.stringContaining("disk on fire") });
    expect((err as Error).message).toContain("http://deb.debian.org/debian");
    expect(await readdir(join(dir, "data", "tmp"))).toEqual(["mmdebstrap"]);
    expect(bases.get("debian-minimal")).toBeUndefined();
    // A failed ensure is not remembered: the next call tries again.
    await expect(bases.ensure("debian-minimal")).rejects.toMatchObject({ code: "base_image_unavailable" });
  });

  it("re-unpacks when the uid base changes", async () => {
    const counter = { n: 0 };
    const a = await make(counter).ensure("debian-minimal");
    const other = new BaseImages({
      dataDir: join(dir, "data"),
      cacheDir: join(dir, "cache"),
      uidBase: 200000,
      recipes,
      builder: fakeBuilder(counter),
    });
    expect(other.get("debian-minimal")).toBeUndefined();
    const b = await other.ensure("debian-minimal");
    expect(b.digest).toBe(a.digest);
    expect(counter.n).toBe(1);
    expect(lstatSync(join(b.rootfs, "usr/bin/perl")).uid).toBe(200000);
  });
});
