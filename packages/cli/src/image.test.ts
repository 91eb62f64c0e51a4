// `sbx image ...` against sbxd on the fake runtime: create (progress, cached rebuild, --json/-q, --detach,
// failures, several images), logs, builds, ls, inspect, rm, `sbx new --image`, and Ctrl-C
// cancelling the build on the server (in a child process).
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as tar from "tar";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { TestDaemon } from "../../daemon/src/testing/test-daemon.js";
import { runCliCaptured, type CliResult } from "./testing/capture.js";

let fake: TestDaemon;
const proj = mkdtempSync(join(tmpdir(), "sbx-image-cli-"));
const root = fileURLToPath(new URL("../../..", import.meta.url));
const imageFile = join(proj, "image.ts");

beforeAll(async () => {
  fake = await TestDaemon.start();
  mkdirSync(join(proj, "scripts"));
  writeFileSync(join(proj, "scripts", "prepare.py"), "print('ready')\n");
  mkdirSync(join(proj, "assets"));
  writeFileSync(join(proj, "assets", "data.csv"), "a,b\n");
  tar.c({ gzip: true, file: join(proj, "assets.tar.gz"), cwd: join(proj, "assets"), sync: true }, ["data.csv"]);
  writeFileSync(
    imageFile,
    `import { Image } from "sbx";
export const data = new Image({ name: "data-tools", baseImage: "debian-minimal" })
  .run("apt-get update && apt-get install -y --no-install-recommends python3 && apt-get clean")
  .env("APP_HOME", "/opt/app")
  .workdir("/opt/app")
  .copy("scripts/", "/opt/app/scripts/")
  .add("assets.tar.gz", "/opt/app/assets/")
  .run("python3 scripts/prepare.py");
`,
  );
});
afterAll(async () => {
  await fake.stop();
  rmSync(proj, { recursive: true, force: true });
});

/** Runs the CLI in this process against the test daemon and captures what it prints. */
function sbx(...args: string[]): Promise<CliResult> {
  return runCliCaptured(fake.host, args);
}

const reqs = (method: string, prefix: string) =>
  fake.requests.filter((r) => r.method === method && r.url.startsWith(prefix));
const lastBuildRequest = () => JSON.parse(reqs("POST", "/v1/builds").at(-1)!.body) as Record<string, unknown>;

describe("sbx image create", () => {
  it("streams the build and registers the image; again, every step is CACHED and nothing is uploaded", async () => {
    const first = await sbx("image", "create", imageFile);
    expect(first.code).toBe(0);
    expect(first.stdout).toBe("");
    expect(first.stderr).toContain("contexts: 2 (uploaded 2,");
    expect(first.stderr).toContain(
      "[1/6] RUN apt-get update && apt-get install -y --no-install-recommends python3 && apt-get clean\n  | Reading package lists... Done",
    );
    expect(first.stderr).toMatch(
      /\[6\/6\] done in \S+, layer .*\nbuilt data-tools:latest in \S+ \(6 steps\)\n {2}image {2}data-tools:latest\n {2}id {5}sha256:[0-9a-f]{64}\n {2}size /,
    );
    expect(reqs("PUT", "/v1/contexts/")).toHaveLength(2);

    const again = await sbx("image", "create", imageFile);
    expect(again.code).toBe(0);
    expect(again.stderr.match(/^CACHED \[\d\/6\] /gm)).toHaveLength(6);
    expect(again.stderr).toContain("contexts: 2 (all already on the daemon)");
    expect(reqs("PUT", "/v1/contexts/")).toHaveLength(2);
  });

  it("refuses to point an existing name at a different image without --replace", async () => {
    const file = join(proj, "changed.ts");
    writeFileSync(file, `import { Image } from "sbx";\nexport const i = new Image("data-tools").run("echo other");\n`);
    const taken = await sbx("image", "create", file);
    expect(taken.code).toBe(1);
    // Refused before the build starts (no build id), not after running every step.
    expect(taken.stderr).toMatch(/error: image data-tools:latest already exists in project default: pass --replace/);
    expect(taken.stderr).not.toMatch(/bld-/);
  });

  it("prints the image as JSON with --json, only its id with -q, and the raw events with --progress json", async () => {
    const j = await sbx("image", "create", imageFile, "--json");
    expect(JSON.parse(j.stdout)).toMatchObject({
      name: "data-tools",
      tag: "latest",
      kind: "built",
      layers: expect.any(Array),
    });
    const q = await sbx("image", "create", imageFile, "--replace", "-q", "--no-cache");
    expect(q.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    expect(q.stderr).toBe("");
    expect(lastBuildRequest()).toMatchObject({ replace: true, noCache: true });
    const events = await sbx("image", "create", imageFile, "--replace", "--progress", "json");
    const lines = events.stdout
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string });
    expect(lines[0]!.type).toBe("build");
    expect(lines.at(-1)).toMatchObject({ type: "done", image: { name: "data-tools" } });
  });

  it("exits 1 with the failure block: step, text, file:line, exit code, last lines", async () => {
    const file = join(proj, "broken.ts");
    writeFileSync(
      file,
      `import { Image } from "sbx";\n\nexport default new Image("broken")\n  .env("A", "1")\n  .run("make all && exit 4");\n`,
    );
    const r = await sbx("image", "create", file);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /error: build bld-\w+ of broken:latest failed at step 2\/2\n {2}step: {7}RUN make all && exit 4\n {2}source: {5}\S*broken\.ts:5:4\n {2}exit code: {2}4\n/,
    );
    expect(r.stderr).toContain("    | boom: it broke\n");
  });

  it("needs --image-name for a file with several images, and passes name and tag through", async () => {
    const file = join(proj, "two.ts");
    writeFileSync(
      file,
      `import { Image, defineFunction } from "sbx";\nexport const api = new Image("api").run("echo api");\nexport const work = defineFunction({ image: new Image("worker") }, () => 1);\n`,
    );
    const r = await sbx("image", "create", file);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      "has 2 images: api (export api), worker (export work, a function's image); choose one with --image-name <name>",
    );
    const ok = await sbx("image", "create", file, "--image-name", "worker", "--registered-name", "w2", "--tag", "v1");
    expect(ok.code).toBe(0);
    expect(lastBuildRequest()).toMatchObject({ definition: { name: "worker" }, registeredName: "w2", tag: "v1" });
    expect((await sbx("image", "create", join(proj, "nope.ts"))).stderr).toMatch(
      /error: image file .*nope\.ts does not exist/,
    );
  });

  it("reads sources from --context", async () => {
    const other = join(proj, "elsewhere");
    mkdirSync(join(other, "scripts"), { recursive: true });
    writeFileSync(join(other, "scripts", "only-here.py"), "1\n");
    const file = join(proj, "ctx.ts");
    writeFileSync(
      file,
      `import { Image } from "sbx";\nexport const i = new Image("ctx").copy("scripts/only-here.py", "/x/");\n`,
    );
    expect((await sbx("image", "create", file)).stderr).toMatch(/scripts\/only-here\.py: no such file or directory/);
    expect((await sbx("image", "create", file, "--context", other)).code).toBe(0);
  });

  it("--detach prints the build id; logs re-attaches; builds lists it", async () => {
    const d = await sbx("image", "create", imageFile, "--replace", "--detach");
    const id = d.stdout.trim();
    expect(id).toMatch(/^bld-\w+$/);
    expect(d.stderr).toContain(`follow it with: sbx image logs ${id} -f`);
    const logs = await sbx("image", "logs", id, "-f");
    expect(logs.code).toBe(0);
    expect(logs.stderr).toContain(`building data-tools:latest (build ${id}, 6 steps)`);
    const builds = await sbx("image", "builds");
    expect(builds.stdout.split("\n")[0]).toMatch(/^ID\s+IMAGE\s+STATE\s+STEPS\s+CREATED\s+DURATION$/);
    expect(builds.stdout).toMatch(new RegExp(`${id}\\s+data-tools:latest\\s+succeeded\\s+6`));
    expect((await sbx("image", "builds", "-q")).stdout.split("\n")[0]).toBe(id);
  });
});

describe("sbx image ls / inspect / rm, and sbx new --image", () => {
  it("lists, inspects and removes images", async () => {
    const ls = await sbx("image", "ls");
    expect(ls.stdout).toMatch(/^NAME\s+TAG\s+ID\s+KIND\s+SIZE\s+CREATED\n/);
    expect(ls.stdout).toMatch(/\ndata-tools\s+latest\s+[0-9a-f]{12}\s+built\s/);
    expect((await sbx("image", "ls", "-q")).stdout.split("\n")).toEqual(
      expect.arrayContaining(["debian-minimal", "data-tools:latest"]),
    );
    const info = await sbx("image", "inspect", "data-tools");
    expect(info.stdout).toMatch(/^image: {6}data-tools:latest\nid: {9}sha256:/);
    expect(info.stdout).toContain("isolation:  userns");
    // ENV changes only the config: five of the six steps make a layer.
    expect(info.stdout).toMatch(/layers \(5\):\n {2}#\s+STEP\s+KEY\s+SIZE\s+CACHED\n {2}1\s+RUN apt-get/);
    expect(JSON.parse((await sbx("image", "inspect", "data-tools:latest", "--json")).stdout)).toMatchObject({
      config: { env: expect.arrayContaining(["APP_HOME=/opt/app"]) },
    });

    const sb = await sbx("new", "--image", "data-tools:latest", "--json");
    expect(JSON.parse(sb.stdout)).toMatchObject({ image: "data-tools:latest" });

    expect(await sbx("image", "rm", "data-tools")).toMatchObject({ code: 0, stdout: "data-tools:latest\n" });
    const gone = await sbx("image", "rm", "data-tools");
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('error: image "data-tools" does not exist in project default');
    expect((await sbx("image", "inspect", "data-tools")).code).toBe(1);
  });

  it("every image command's help has examples", async () => {
    for (const sub of [[], ["create"], ["logs"], ["builds"], ["cancel"], ["ls"], ["inspect"], ["rm"]]) {
      const r = await sbx("image", ...sub, "--help");
      expect(r.code, sub.join(" ")).toBe(0);
      expect(r.stdout, sub.join(" ")).toContain("Examples:");
    }
  });
});

describe("Ctrl-C", () => {
  it("cancels the build on the server and says so (exit 130)", async () => {
    const file = join(proj, "slow.ts");
    writeFileSync(file, `import { Image } from "sbx";\nexport const s = new Image("slow").run("wait-for-cancel");\n`);
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        join(root, "packages/cli/src/testing/run-cli.ts"),
        "--host",
        fake.host,
        "image",
        "create",
        file,
      ],
      { cwd: root },
    );
    let stderr = "";
    let sent = false;
    child.stderr.on("data", (d: Buffer) => {
      stderr += d;
      if (!sent && stderr.includes("waiting to be cancelled")) sent = child.kill("SIGINT");
    });
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(code).toBe(130);
    expect(stderr).toMatch(/sbx: build bld-\w+ was cancelled on the server/);
    const id = reqs("DELETE", "/v1/builds/").at(-1)!.url.split("/").pop()!;
    // The cancel is answered at once; the build's sandbox is stopped and the state recorded just after.
    await vi.waitFor(async () => expect((await fake.services.builds.get("default", id)).state).toBe("cancelled"), {
      timeout: 5000,
    });
  }, 20_000);
});
