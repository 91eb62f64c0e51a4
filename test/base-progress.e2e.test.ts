// Progress of on-demand base image builds, end to end: a daemon of its own with an empty base cache
// (so debian-minimal is really built by mmdebstrap) serves `sbx image build` of an image FROM it,
// whose --progress json run must carry the build's phases as NDJSON progress events; then the same
// daemon, wiped but keeping the now filled cache, serves `sbx create`, which must print the cache
// import's phases as plain lines. One real mmdebstrap build for the file.
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SandboxClient } from "@sbx-sh/sdk";
import { REPO, TestDaemon } from "./harness.js";

const run = promisify(execFile);
let cacheDir: string;
let ctx: string;
let daemon: TestDaemon;

async function sbx(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [join(REPO, "packages", "cli", "bin", "sbx.js"), ...args], {
    env: { ...process.env, SBX_HOST: daemon.host },
    timeout: 900_000,
    maxBuffer: 64 << 20,
  });
}

beforeAll(async () => {
  cacheDir = await mkdtemp(join(tmpdir(), "sbx-e2e-base-progress-cache-"));
  ctx = await mkdtemp(join(tmpdir(), "sbx-e2e-base-progress-ctx-"));
  daemon = new TestDaemon({
    name: "base-progress",
    netIndex: 1,
    extraArgs: ["--warm-pool", "0", "--cache-dir", cacheDir],
  });
  await daemon.reset();
  await daemon.start();
});

afterAll(async () => {
  const client = new SandboxClient({ host: daemon.host });
  for (const s of await client.list().catch(() => [])) await client.terminate(s.id).catch(() => undefined);
  await daemon.stop();
  await rm(cacheDir, { recursive: true, force: true });
  await rm(ctx, { recursive: true, force: true });
});

describe("base image build progress", () => {
  it(
    "sbx image build FROM an unbuilt base streams the base build's phases as JSON events",
    { timeout: 900_000 },
    async () => {
      await writeFile(join(ctx, "Dockerfile"), "FROM debian-minimal\nENV PROGRESS=1\n");
      const r = await sbx(["image", "build", join(ctx, "Dockerfile"), "-n", "progress-probe", "--progress", "json"]);
      const events = r.stderr
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map(
          (l) =>
            JSON.parse(l) as {
              event: string;
              op: string;
              label: string;
              phase: string;
              step: number;
              total: number;
              packages: number | null;
              packagesTotal: number | null;
              done: boolean;
            },
        )
        .filter((e) => e.op === "base");
      const phases = events.map((e) => e.phase);
      // A real mmdebstrap run passes these (the first may be published before the stream is open).
      for (const p of [
        "downloading packages",
        "extracting archives",
        "creating tarball",
        "importing",
        "unpacking and shifting uids",
        "ready",
      ])
        expect(phases).toContain(p);
      expect(events.every((e) => e.label === "debian-minimal" && e.total === events[0]!.total)).toBe(true);
      const steps = events.map((e) => e.step);
      expect(steps).toEqual([...steps].sort((a, b) => a - b));
      expect(events.at(-1)).toMatchObject({ phase: "ready", done: true });
      // mmdebstrap --verbose: apt announces the package count, and download and install reach it.
      for (const p of ["downloading packages", "installing essential packages", "installing remaining packages"]) {
        const last = events.filter((e) => e.phase === p && e.packagesTotal).at(-1);
        expect(last?.packagesTotal).toBeGreaterThan(0);
        expect(last?.packages).toBe(last?.packagesTotal);
      }
      // The build itself went on and registered the image.
      expect(r.stdout).toMatch(/"type":"done"/);
      expect(r.stdout).toContain("progress-probe");
    },
  );

  it(
    "sbx create of a base imported from the cache prints its phases as plain lines; a ready base prints none",
    { timeout: 600_000 },
    async () => {
      await daemon.stop();
      await daemon.reset();
      await daemon.start();
      const first = await sbx(["create", "--no-internet"]);
      const lines = first.stderr.split("\n").filter((l) => l.startsWith("base debian-minimal: "));
      expect(lines.at(-1)).toMatch(/^base debian-minimal: \[(\d+)\/\1\] ready$/);
      expect(lines.some((l) => / importing$/.test(l))).toBe(true);
      expect(lines.some((l) => /\] downloading packages$/.test(l))).toBe(false);
      expect(first.stdout.trim()).toMatch(/^sb-/);
      const again = await sbx(["create", "--no-internet"]);
      expect(again.stderr).not.toContain("base debian-minimal");
      expect(again.stdout.trim()).toMatch(/^sb-/);
    },
  );
});
