// ensureWithProgress over a real BaseImages (fake builder that logs mmdebstrap's lines and tars a
// one-file rootfs): the waiting project gets base.progress events in order up to ready; the
// events name the project, and a second wait on the built base gets none.
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BaseImages, type BaseImageBuilder } from "../build/base-images.js";
import { baseRecipes } from "../build/base-recipes.js";
import { BASE_PHASES } from "../build/base-progress.js";
import { ensureWithProgress } from "./base-progress-events.js";
import { EventBus } from "./event-bus.js";

const builder: BaseImageBuilder = async (_recipe, outTar, log) => {
  for (const l of [
    "I: running apt-get update...",
    "I: downloading packages with apt...",
    "0 upgraded, 2 newly installed, 0 to remove and 0 not upgraded.",
    "Get:1 http://deb.debian.org/debian bookworm/main amd64 base-files amd64 12.4 [70.8 kB]",
    "Get:2 http://deb.debian.org/debian bookworm/main amd64 bash amd64 5.2.15-2 [1491 kB]",
    "I: creating tarball...",
  ])
    log(l);
  const src = `${outTar}.src`;
  mkdirSync(join(src, "etc"), { recursive: true });
  writeFileSync(join(src, "etc/os-release"), "NAME=fake\n");
  const r = spawnSync("tar", ["--numeric-owner", "-cf", outTar, "-C", src, "."], { encoding: "utf8" });
  spawnSync("rm", ["-rf", src]);
  if (r.status !== 0) throw new Error(`tar failed: ${r.stderr}`);
};

describe.skipIf(process.getuid?.() !== 0)("ensureWithProgress", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "sbx-base-progress-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("publishes the build's phases to the waiting project, then nothing once the base is ready", async () => {
    const bases = new BaseImages({
      dataDir: join(dir, "data"),
      cacheDir: join(dir, "cache"),
      uidBase: 100000,
      builder,
      recipes: baseRecipes({ suite: "bookworm", mirror: "http://deb.debian.org/debian" }),
    });
    const bus = new EventBus();
    const seen: Array<Record<string, unknown>> = [];
    bus.onEvent((e) => seen.push({ type: e.type, project: e.project, subject: e.subject, ...e.attributes }));
    const drain = (): Array<Record<string, unknown>> => seen.splice(0);
    await ensureWithProgress(bases, bus, "p1", "debian-minimal");
    const got = drain();
    expect(got.map((e) => [e.phase, e.packages, e.packagesTotal])).toEqual([
      ["starting", null, null],
      ["updating package lists", null, null],
      ["downloading packages", null, null],
      ["downloading packages", 0, 2],
      ["downloading packages", 1, 2],
      ["downloading packages", 2, 2],
      ["creating tarball", null, null],
      ["importing", null, null],
      ["unpacking and shifting uids", null, null],
      ["ready", null, null],
    ]);
    expect(
      got.every(
        (e) =>
          e.type === "base.progress" &&
          e.project === "p1" &&
          e.subject === "debian-minimal" &&
          e.base === "debian-minimal",
      ),
    ).toBe(true);
    expect(got.every((e) => e.total === BASE_PHASES.length)).toBe(true);
    await ensureWithProgress(bases, bus, "p1", "debian-minimal");
    expect(drain()).toEqual([]);
  });
});
