// Images from code, end to end: the examples built with the CLI (streamed, then all CACHED),
// launched with their env/workdir/files; partial rebuilds; failures that leave nothing behind;
// the registry (replace, remove while in use, projects); bad input.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import { Image, SandboxClient, SbxError, type BuildEvent } from "@sbx-sh/sdk";
import { sharedClient, useSandboxes } from "./fixtures.js";
import { REPO, testDaemonRoot } from "./harness.js";

const host = inject("sbxHost");
const client = sharedClient();
const sandbox = useSandboxes(client);
const dataDir = join(testDaemonRoot("shared"), "data");

function sbx(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(REPO, "packages", "cli", "bin", "sbx.js"), ...args], {
    env: { ...process.env, SBX_HOST: host },
    encoding: "utf8",
    timeout: 600_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function buildSandboxesLeft(): string[] {
  return readdirSync(join(dataDir, "sandboxes")).filter((d) => d.startsWith("bld-"));
}

afterAll(async () => {
  for (const name of ["data-tools", "worker", "api", "agent-skills", "steps", "keeper", "fails"])
    await client.transport.empty("DELETE", `/v1/images/${name}`).catch(() => undefined);
});

describe("images from code", () => {
  it("builds the data-tools example with streamed progress, then again fully cached, and launches it", async () => {
    const first = sbx(["image", "create", join(REPO, "examples/data-tools/image.ts"), "--progress", "plain"]);
    expect(first.code, first.stderr).toBe(0);
    const log = first.stdout + first.stderr;
    expect(log).toMatch(/\[1\/6\] RUN apt-get update/);
    expect(log).toMatch(/Setting up python3/);
    expect(log).toMatch(/\[6\/6\] RUN python3 scripts\/prepare\.py/);
    expect(log).toMatch(/prepared 2 assets/);
    expect(log).toMatch(/sha256:[0-9a-f]{64}/);

    const again = sbx(["image", "create", join(REPO, "examples/data-tools/image.ts"), "--progress", "plain"]);
    expect(again.code, again.stderr).toBe(0);
    expect((again.stdout + again.stderr).match(/CACHED \[\d\/6\]/g)).toHaveLength(6);

    const sb = await sandbox({ image: "data-tools" });
    const r = await sb.run("sh", {
      args: ["-c", 'echo "$APP_HOME $(pwd)"; python3 -c "print(6*7)"; cat summary.json; ls assets scripts'],
    });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain("/opt/app /opt/app\n42\n");
    expect(r.stdout).toContain('{"file": "numbers.csv", "lines": 4}');
    expect(r.stdout).toMatch(/numbers\.csv\s+words\.txt/);
    expect((await sb.info()).imageId).toMatch(/^sha256:/);

    const inspect = JSON.parse(sbx(["image", "inspect", "data-tools", "--json"]).stdout) as {
      layers: Array<{ step: string; sizeBytes: number }>;
      config: { workingDir: string };
    };
    expect(inspect.layers.map((l) => l.step)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^RUN apt-get/), "WORKDIR /opt/app"]),
    );
    expect(inspect.config.workingDir).toBe("/opt/app");
  });

  it("needs --image-name for a file with two images, and finds images attached to functions", () => {
    const file = join(REPO, "examples/two-images/image.ts");
    const ambiguous = sbx(["image", "create", file]);
    expect(ambiguous.code).not.toBe(0);
    expect(ambiguous.stderr).toMatch(/api/);
    expect(ambiguous.stderr).toMatch(/worker/);
    const worker = sbx(["image", "create", file, "--image-name", "worker", "--progress", "plain"]);
    expect(worker.code, worker.stderr).toBe(0);
    expect(sbx(["image", "ls", "-q"]).stdout).toMatch(/worker/);
  });

  it("ships agent skill files where coding agents look for them", async () => {
    const r = sbx(["image", "create", join(REPO, "examples/agent-skills/image.ts"), "--progress", "plain"]);
    expect(r.code, r.stderr).toBe(0);
    const sb = await sandbox({ image: "agent-skills" });
    const skill = (await sb.readFile("/root/.claude/skills/sbx/SKILL.md")).toString();
    expect(skill).toMatch(/^---\nname: sbx\n/);
    expect(skill).toContain("Sandbox.create");
  });

  it("rebuilds only from the changed step on, everything with noCache, and the cache then gives the newest build", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sbx-img-"));
    await writeFile(join(dir, "a.txt"), "one");
    // The first step's output differs at every execution (what `apt-get update` fetches, say).
    const make = (second: string) =>
      new Image({ name: "steps", baseImage: "debian-minimal" })
        .run("echo base > /base.txt; cat /proc/sys/kernel/random/uuid > /stamp")
        .copy("a.txt", "/a.txt")
        .run(second)
        .env("X", "1");
    const build = async (img: Image, opts: { noCache?: boolean; replace?: boolean } = {}) => {
      const events: BuildEvent[] = [];
      const { id } = await img.build({
        client,
        contextDir: dir,
        replace: opts.replace ?? true,
        noCache: opts.noCache ?? false,
        onEvent: (e) => void events.push(e),
      });
      return { id, cached: events.flatMap((e) => (e.type === "step" ? [e.cached] : [])) };
    };
    const cached = async (img: Image, noCache = false) => (await build(img, { noCache })).cached;
    expect(await cached(make("echo v1 > /v.txt"))).toEqual([false, false, false, false]);
    expect(await cached(make("echo v2 > /v.txt"))).toEqual([true, true, false, false]);
    await writeFile(join(dir, "a.txt"), "two");
    // Each key includes its parent's: everything after the changed copy runs again.
    expect(await cached(make("echo v2 > /v.txt"))).toEqual([true, false, false, false]);
    const stampOf = async () => (await (await sandbox({ image: "steps" })).run("cat", { args: ["/stamp"] })).stdout;
    const stale = await stampOf();
    const fresh = await build(make("echo v2 > /v.txt"), { noCache: true });
    expect(fresh.cached).toEqual([false, false, false, false]);
    const sb = await sandbox({ image: "steps" });
    expect((await sb.run("cat", { args: ["/base.txt", "/a.txt", "/v.txt"] })).stdout).toBe("base\ntwov2\n");
    const newest = await stampOf();
    expect(newest).not.toBe(stale);
    // Like Docker, the newest build of a step is what the cache gives afterwards: a plain create
    // of the same definition is the image the name already has (no --replace needed), all CACHED,
    await expect(build(make("echo v2 > /v.txt"), { replace: false })).resolves.toEqual({
      id: fresh.id,
      cached: [true, true, true, true],
    });
    // and with --replace the name stays on the newer layers, never back on the older ones.
    await expect(build(make("echo v2 > /v.txt"))).resolves.toEqual({ id: fresh.id, cached: [true, true, true, true] });
    expect(await stampOf()).toBe(newest);
  });

  it("reports a failing step with its source line and leaves no image or sandbox, only its executed step's layer", async () => {
    const keeper = await new Image({ name: "keeper", baseImage: "debian-minimal" })
      .run("echo kept > /kept")
      .build({ client, replace: true });
    const layersBefore = readdirSync(join(dataDir, "layers"))
      .filter((d) => d.startsWith("l"))
      .sort();
    const failing = new Image({ name: "keeper", baseImage: "debian-minimal" })
      .run("echo new layer > /new")
      .run("echo about to fail; echo oops >&2; exit 7");
    const err = (await failing.build({ client, replace: true }).catch((e: unknown) => e)) as SbxError;
    expect(err).toBeInstanceOf(SbxError);
    expect(err.details).toMatchObject({ step: 2, exitCode: 7, text: "RUN echo about to fail; echo oops >&2; exit 7" });
    expect((err.details as { source: { file: string; line: number } }).source.file).toMatch(/images\.e2e\.test\.ts$/);
    expect((err.details as { lastLines: string[] }).lastLines).toEqual(
      expect.arrayContaining(["about to fail", "oops"]),
    );
    expect((await client.transport.json<{ id: string }>("GET", "/v1/images/keeper")).id).toBe(keeper.id);
    expect(buildSandboxesLeft()).toEqual([]);
    // Only step 1's layer stays, as build cache for the retry (collection may also have removed
    // older unreferenced layers).
    const layersAfter = readdirSync(join(dataDir, "layers")).filter((d) => d.startsWith("l"));
    expect(layersAfter.filter((l) => !layersBefore.includes(l))).toHaveLength(1);
    for (const l of keeper.layers) expect(layersAfter).toContain(`l${l.key.replace("sha256:", "").slice(0, 20)}`);
  });

  it("keeps names unique per project, and a removed image keeps its running sandboxes working", async () => {
    const v1 = await new Image({ name: "keeper", baseImage: "debian-minimal" })
      .run("echo v1 > /version")
      .build({ client, replace: true });
    const sb = await sandbox({ image: "keeper" });
    await expect(
      new Image({ name: "keeper", baseImage: "debian-minimal" }).run("echo v2 > /version").build({ client }),
    ).rejects.toMatchObject({ code: expect.stringMatching(/already_exists|failed_precondition/) });
    const v2 = await new Image({ name: "keeper", baseImage: "debian-minimal" })
      .run("echo v2 > /version")
      .build({ client, replace: true });
    expect(v2.id).not.toBe(v1.id);
    expect(sbx(["image", "rm", "keeper"]).code).toBe(0);
    expect((await sb.run("cat", { args: ["/version"] })).stdout).toBe("v1\n");
    await expect(client.create({ image: "keeper" })).rejects.toMatchObject({ code: "image_not_found" });
    await client.createProject("images-other").catch(() => undefined);
    const other = new SandboxClient({ host, project: "images-other" });
    expect((await other.listImages()).map((i) => i.name)).not.toContain("data-tools");
  });

  it("cancels a running build and removes its sandbox", async () => {
    const build = await new Image({ name: "fails", baseImage: "debian-minimal" })
      .run("sleep 60")
      .build({ client, signal: AbortSignal.timeout(1500) })
      .catch((e: unknown) => e);
    expect(build).toBeInstanceOf(Error);
    const builds = await client.transport.json<{ builds: Array<{ imageName: string; state: string }> }>(
      "GET",
      "/v1/builds",
    );
    await expect
      .poll(
        async () =>
          (
            await client.transport.json<{ builds: Array<{ imageName: string; state: string }> }>("GET", "/v1/builds")
          ).builds.find((b) => b.imageName === "fails")?.state,
        { timeout: 10_000 },
      )
      .toBe("cancelled");
    expect(builds.builds.length).toBeGreaterThan(0);
    await expect.poll(() => buildSandboxesLeft(), { timeout: 10_000 }).toEqual([]);
  });

  it("rejects bad definitions clearly and registers nothing", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sbx-bad-"));
    await expect(
      new Image({ name: "bad", baseImage: "no-such-base" }).run("true").build({ client }),
    ).rejects.toMatchObject({ code: "image_not_found" });
    await expect(
      new Image({ name: "bad", baseImage: "debian-minimal" })
        .copy("missing.txt", "/x")
        .build({ client, contextDir: dir }),
    ).rejects.toThrow(/missing\.txt/);
    expect(() => new Image({ name: "Not Valid!" })).toThrow(SbxError);
    // An archive for add() whose entries try to leave the destination.
    const evil = join(dir, "evil.tar");
    const { Header } = await import("tar");
    const h = new Header({ path: "../../escape.txt", type: "File", size: 2, mode: 0o644, mtime: new Date(0) });
    h.encode();
    await writeFile(evil, Buffer.concat([h.block!, Buffer.from("hi"), Buffer.alloc(510), Buffer.alloc(1024)]));
    await expect(
      new Image({ name: "bad", baseImage: "debian-minimal" })
        .add("evil.tar", "/opt/")
        .build({ client, contextDir: dir }),
    ).rejects.toMatchObject({ code: "invalid_archive" });
    const notImage = join(dir, "plain.ts");
    await writeFile(notImage, "export const x = 1;\n");
    const r = sbx(["image", "create", notImage]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/no image/i);
    expect((await client.listImages()).map((i) => i.name)).not.toContain("bad");
    expect(existsSync(join(dataDir, "sandboxes"))).toBe(true);
  });
});

describe("image users and ids", () => {
  it("runs commands as the image's user by name, and launches a replaced image by its id", async () => {
    const first = await new Image({ name: "users", baseImage: "debian-minimal" })
      .run("useradd -m -u 1234 app")
      .user("app")
      .build({ client, replace: true });
    const sb = await sandbox({ image: "users" });
    expect((await sb.run("id", { args: ["-un"] })).stdout).toBe("app\n");
    expect((await sb.run("id", { args: ["-u"], user: "root" })).stdout).toBe("0\n");
    await new Image({ name: "users", baseImage: "debian-minimal" })
      .run("useradd -m -u 1235 app")
      .user("app")
      .build({ client, replace: true });
    const old = await sandbox({ image: first.id });
    expect((await old.run("id", { args: ["-u"] })).stdout).toBe("1234\n");
    expect((await old.info()).imageId).toBe(first.id);
    await client.transport.empty("DELETE", "/v1/images/users");
  });
});
