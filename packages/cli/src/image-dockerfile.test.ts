// `sbx image create` with Dockerfiles against sbxd on the fake runtime: which paths are Dockerfiles, -n/--name,
// --build-arg, --target, -f with a context argument, warnings on stderr, a cached rebuild, and the
// errors (with the Dockerfile's line) that stop before any build is started.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CreateBuildRequest } from "@sbx-sh/protocol";
import { TestDaemon } from "../../daemon/src/testing/test-daemon.js";
import { isDockerfilePath } from "./commands/image-create.js";
import { runCliCaptured, type CliResult } from "./testing/capture.js";

let fake: TestDaemon;
const proj = mkdtempSync(join(tmpdir(), "sbx-dockerfile-cli-"));
const dockerfile = join(proj, "Dockerfile");

beforeAll(async () => {
  fake = await TestDaemon.start();
  mkdirSync(join(proj, "app"));
  writeFileSync(join(proj, "app", "main.py"), "print('hi')\n");
  writeFileSync(
    dockerfile,
    `FROM debian-minimal
ARG VERSION=1
LABEL maintainer=me
ENV APP_HOME=/opt/app
WORKDIR $APP_HOME
COPY app/ ./
RUN <<EOF
echo "version $VERSION" > /version
EOF
CMD ["python3", "main.py"]
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

const builds = () => fake.requests.filter((r) => r.method === "POST" && r.url === "/v1/builds");
const lastBuild = () => JSON.parse(builds().at(-1)!.body) as CreateBuildRequest;

describe("sbx image create <Dockerfile>", () => {
  it("tells Dockerfiles from image files by name", () => {
    for (const p of ["Dockerfile", "./x/Dockerfile", "Dockerfile.web", "web.Dockerfile", "dockerfile", "Containerfile"])
      expect(isDockerfilePath(p), p).toBe(true);
    for (const p of ["image.ts", "Dockerfile.ts", "Dockerfile.mjs", "web.dockerfile.js", "Dockerfiles", "MyDockerfile"])
      expect(isDockerfilePath(p), p).toBe(false);
  });

  it("builds with -n and --build-arg, prints warnings with their line, and rebuilds all CACHED", async () => {
    const r = await sbx("image", "create", dockerfile, "-n", "web", "--build-arg", "VERSION=2", "--progress", "plain");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^warning: \S*Dockerfile:3: LABEL is ignored/m);
    expect(r.stderr).toContain('[4/5] RUN export VERSION=2; echo "version $VERSION" > /version');
    expect(r.stderr).toMatch(/built web:latest in \S+ \(5 steps\)/);
    const req = lastBuild();
    expect(req.definition).toMatchObject({ name: "web", tag: "latest", baseImage: "debian-minimal" });
    expect(req.definition.steps.map((s) => [s.op, s.source?.line])).toEqual([
      ["env", 4],
      ["workdir", 5],
      ["copy", 6],
      ["run", 7],
      ["cmd", 10],
    ]);
    expect(req.definition.steps[0]!.source!.file).toMatch(/Dockerfile$/);

    const again = await sbx(
      "image",
      "create",
      dockerfile,
      "-n",
      "web",
      "--build-arg",
      "VERSION=2",
      "--progress",
      "plain",
    );
    expect(again.code).toBe(0);
    expect(again.stderr.match(/^CACHED \[\d\/5\] /gm)).toHaveLength(5);
    // A different build arg changes the RUN (and what follows), not the steps before it.
    const v3 = await sbx(
      "image",
      "create",
      dockerfile,
      "-n",
      "web",
      "--build-arg",
      "VERSION=3",
      "--replace",
      "--progress",
      "plain",
    );
    expect(v3.stderr.match(/^CACHED \[\d\/5\] /gm)).toHaveLength(3);
  });

  it("takes -n name:tag, --registered-name alone, --build-arg NAME from the environment, and -q", async () => {
    expect((await sbx("image", "create", dockerfile, "-n", "web:v2")).code).toBe(0);
    expect(lastBuild().definition).toMatchObject({ name: "web", tag: "v2" });
    expect((await sbx("image", "create", dockerfile, "--registered-name", "web-reg")).code).toBe(0);
    expect(lastBuild()).toMatchObject({ definition: { name: "web-reg" }, registeredName: "web-reg" });
    process.env.SBX_TEST_VERSION = "9";
    try {
      const q = await sbx("image", "create", dockerfile, "-n", "web-env", "--build-arg", "SBX_TEST_VERSION", "-q");
      expect(q.stderr).toBe("");
      expect(q.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    } finally {
      delete process.env.SBX_TEST_VERSION;
    }
  });

  it("reads -f <Dockerfile> with the context as the argument, and --target", async () => {
    const docker = join(proj, "docker");
    mkdirSync(docker);
    const file = join(docker, "web.Dockerfile");
    writeFileSync(
      file,
      "FROM debian-minimal AS base\nCOPY app/main.py /srv/\nFROM base AS test\nRUN python3 -m pytest\nFROM base\nRUN echo final\n",
    );
    // Relative to the Dockerfile's folder (the default context) app/ does not exist.
    const noCtx = await sbx("image", "create", "-f", file, "-n", "svc");
    expect(noCtx.code).toBe(1);
    expect(noCtx.stderr).toMatch(/app\/main\.py: no such file or directory/);
    const ok = await sbx("image", "create", "-f", file, proj, "-n", "svc", "--target", "test");
    expect(ok.code, ok.stderr).toBe(0);
    expect(lastBuild().definition.steps.map((s) => s.op)).toEqual(["copy", "run"]);
    expect(lastBuild().definition.steps[1]).toMatchObject({ command: "python3 -m pytest", source: { line: 4 } });
    // The same with the positional form and --context.
    const named = join(docker, "Dockerfile.svc");
    writeFileSync(named, "FROM debian-minimal\nCOPY app/main.py /srv/\n");
    expect((await sbx("image", "create", named, proj, "-n", "svc2")).code).toBe(0);
    expect((await sbx("image", "create", named, "--context", proj, "-n", "svc2")).code).toBe(0);
  });

  it("refuses bad input before starting a build, naming the Dockerfile's line", async () => {
    const before = builds().length;
    const bad = join(proj, "bad.Dockerfile");
    writeFileSync(bad, "FROM debian-minimal\nRUN echo ok\nFORM x\n");
    const unknown = await sbx("image", "create", bad, "-n", "bad");
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/error: \S*bad\.Dockerfile:3: unknown instruction FORM \(did you mean FROM\?\)/);

    const multi = join(proj, "multi.Dockerfile");
    writeFileSync(multi, "FROM debian-minimal AS build\nRUN make\nFROM debian-minimal\nCOPY --from=build /out /out\n");
    const self = join(proj, "self.Dockerfile");
    writeFileSync(self, "FROM debian-minimal AS a\nCOPY --from=a /out /out\n");
    expect((await sbx("image", "create", self, "-n", "multi")).stderr).toMatch(
      /self\.Dockerfile:2: .*a stage cannot copy from itself/,
    );
    expect((await sbx("image", "create", multi, "-n", "multi", "--target", "nope")).stderr).toMatch(
      /no stage named nope \(its stages: build\)/,
    );

    expect((await sbx("image", "create", dockerfile)).stderr).toMatch(
      /a Dockerfile does not name its image: give one with -n <name>/,
    );
    expect((await sbx("image", "create", dockerfile, "-n", "Web")).stderr).toMatch(/invalid image name/i);
    expect((await sbx("image", "create", dockerfile, "-n", "w", "--image-name", "x")).stderr).toMatch(
      /--image-name picks one of the images a \.ts file defines/,
    );
    expect((await sbx("image", "create", "-f", dockerfile, proj, "extra", "-n", "w")).code).toBe(1);
    expect((await sbx("image", "create", dockerfile, proj, "--context", join(proj, "app"), "-n", "w")).stderr).toMatch(
      /two build contexts/,
    );
    expect((await sbx("image", "create", join(proj, "missing", "Dockerfile"), "-n", "w")).stderr).toMatch(
      /cannot read the Dockerfile .*: no such file/,
    );
    expect((await sbx("image", "create", "-n", "w")).stderr).toMatch(
      /give a \.ts\/\.js file that exports an Image, or a Dockerfile/,
    );
    expect((await sbx("image", "create", dockerfile, "-n", "w", "--build-arg", "1BAD=x")).stderr).toMatch(
      /expected NAME=VALUE/,
    );

    const ts = join(proj, "image.ts");
    writeFileSync(ts, `import { Image } from "sbx";\nexport const i = new Image("code");\n`);
    expect((await sbx("image", "create", ts, "-n", "x", "--build-arg", "A=1")).stderr).toMatch(
      /-n\/--name, --build-arg: only for Dockerfiles/,
    );
    expect((await sbx("image", "create", ts, proj)).stderr).toMatch(
      /a context folder argument: only for Dockerfiles .*its context folder is --context/,
    );
    expect(builds().length).toBe(before);
  });
});
