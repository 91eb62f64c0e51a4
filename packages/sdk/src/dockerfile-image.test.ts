// Dockerfiles as Images: the same IR (hence cache keys) as the equivalent TS image, sources at the
// Dockerfile's lines, the base image's env for $PATH, the refusals (COPY --from) with their line,
// and .dockerignore (Docker's anchoring, <Dockerfile>.dockerignore first) on what is uploaded.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tar from "tar";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Step } from "@sbx-sh/protocol";
import type { SandboxClient } from "./client.js";
import { dockerignoreToGitignore } from "./dockerignore.js";
import { DockerfileImage, imageFromDockerfile } from "./dockerfile-image.js";
import { Image, SandboxClient as Client, SbxError } from "./index.js";
import { IgnoreRules } from "./sbxignore.js";
import { TestDaemon } from "../../daemon/src/testing/test-daemon.js";

const ctx = mkdtempSync(join(tmpdir(), "sbx-dockerfile-test-"));
let fake: TestDaemon;
let client: Client;

beforeAll(async () => {
  fake = await TestDaemon.start();
  client = new Client({ host: fake.host, env: {} });
  mkdirSync(join(ctx, "scripts"));
  writeFileSync(join(ctx, "scripts", "prepare.py"), "print(1)\n");
  writeFileSync(join(ctx, "app.py"), "print(2)\n");
  mkdirSync(join(ctx, "assets"));
  writeFileSync(join(ctx, "assets", "data.csv"), "a,b\n");
  tar.c({ gzip: true, file: join(ctx, "assets.tar.gz"), cwd: join(ctx, "assets"), sync: true }, ["data.csv"]);
});
afterAll(async () => {
  await client.close();
  await fake.stop();
  rmSync(ctx, { recursive: true, force: true });
});

function dockerfile(name: string, text: string): string {
  const path = join(ctx, name);
  writeFileSync(path, text);
  return path;
}

const withoutSource = (steps: Step[]) => steps.map(({ source: _s, ...rest }) => rest);

describe("imageFromDockerfile", () => {
  it("gives the same IR steps and cache keys as the same image written in TypeScript", async () => {
    const path = dockerfile(
      "Dockerfile",
      `FROM debian-minimal
RUN apt-get update && apt-get install -y python3
ENV APP_HOME=/opt/app MODE=prod
WORKDIR $APP_HOME
COPY --chown=1000:1000 --chmod=755 scripts/ ./scripts/
COPY ["app.py", "assets.tar.gz", "/opt/app/"]
ADD assets.tar.gz /opt/app/assets/
RUN ["python3", "scripts/prepare.py"]
USER 1000:1000
ENTRYPOINT ["python3"]
CMD app.py
`,
    );
    const fromDockerfile = await imageFromDockerfile(path, { name: "tools" });
    const fromCode = new Image({ name: "tools", baseImage: "debian-minimal" })
      .run("apt-get update && apt-get install -y python3")
      .env("APP_HOME", "/opt/app")
      .env("MODE", "prod")
      .workdir("/opt/app")
      .copy("scripts/", "./scripts/", { chown: "1000:1000", chmod: 0o755 })
      .copy(["app.py", "assets.tar.gz"], "/opt/app/")
      .add("assets.tar.gz", "/opt/app/assets/")
      .run(["python3", "scripts/prepare.py"])
      .user("1000:1000")
      .entrypoint(["python3"])
      .cmd("app.py");
    const a = await fromDockerfile.toDefinition();
    const b = await fromCode.toDefinition({ contextDir: ctx });
    expect(withoutSource(a.steps)).toEqual(withoutSource(b.steps));
    expect({ ...a, steps: [] }).toEqual({ ...b, steps: [] });
    // Sources are the Dockerfile's lines; ENV's two variables share line 3.
    expect(a.steps.map((s) => s.source?.line)).toEqual([2, 3, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(a.steps[0]!.source!.file).toMatch(/Dockerfile$/);
    expect(fromDockerfile).toBeInstanceOf(Image);
    expect(fromDockerfile.toString()).toBe(fromCode.toString());

    // Built: the same layers; the second build is all cached (the daemon gives both the same cache keys).
    const first = await fromCode.build({ client, contextDir: ctx });
    const cached: boolean[] = [];
    const second = await fromDockerfile.build({
      client,
      onEvent: (e) => void (e.type === "step" && cached.push(e.cached)),
    });
    expect(second.id).toBe(first.id);
    expect(cached).toEqual(a.steps.map(() => true));
  });

  it("is also Image.fromDockerfile, with name, tag, target, build args and another context", async () => {
    const other = join(ctx, "other-context");
    mkdirSync(other, { recursive: true });
    writeFileSync(join(other, "only-here.txt"), "x");
    const path = dockerfile(
      "web.Dockerfile",
      `ARG V=1\nFROM debian-minimal AS base\nARG V\nRUN echo $V\nFROM base AS final\nCOPY only-here.txt /\nFROM final AS unused\nRUN echo no\n`,
    );
    const img = await Image.fromDockerfile(path, {
      name: "web",
      tag: "v2",
      target: "final",
      buildArgs: { V: "2" },
      contextDir: other,
    });
    expect(img).toBeInstanceOf(DockerfileImage);
    expect({ name: img.name, tag: img.tag, baseImage: img.baseImage, contextDir: img.contextDir }).toEqual({
      name: "web",
      tag: "v2",
      baseImage: "debian-minimal",
      contextDir: other,
    });
    expect(img.source).toEqual({ file: path, line: 2 });
    const def = await img.toDefinition();
    expect(def.steps.map((s) => s.op)).toEqual(["run", "copy"]);
    expect(def.steps[0]).toMatchObject({ command: "export V=2; echo $V" });
  });

  it("substitutes $PATH from the base image's env when it has a client", async () => {
    const path = dockerfile("Dockerfile.path", "FROM data-tools\nENV PATH=/opt/bin:$PATH HOME_DIR=${HOME:-none}\n");
    const fakeClient = {
      getImage: async (name: string) => ({ name, config: { env: ["PATH=/usr/bin:/bin", "HOME=/home/me"] } }),
    } as unknown as SandboxClient;
    const withEnv = await imageFromDockerfile(path, { name: "p", client: fakeClient });
    expect(withEnv.steps.map((s) => (s.op === "env" ? s.value : ""))).toEqual(["/opt/bin:/usr/bin:/bin", "/home/me"]);
    const without = await imageFromDockerfile(path, { name: "p" });
    expect(without.steps.map((s) => (s.op === "env" ? s.value : ""))).toEqual([
      "/opt/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "none",
    ]);
    const missing = {
      getImage: async () => Promise.reject(new SbxError("image_not_found", "no image")),
    } as unknown as SandboxClient;
    expect((await imageFromDockerfile(path, { name: "p", client: missing })).steps).toEqual(without.steps);
  });

  it("turns COPY --from into copy steps out of stage images built first, or out of named images", async () => {
    const multi = dockerfile(
      "Dockerfile.multi",
      "FROM debian-minimal AS build\nRUN make\nFROM debian-minimal AS mid\nCOPY --from=build /out /mid\nFROM debian-minimal\nCOPY --from=mid --chown=1:1 /mid/a* /final/\nCOPY --from=0 /out /zero\nCOPY --from=data-tools:v2 /etc/os-release /x\n",
    );
    const m = await imageFromDockerfile(multi, { name: "m" });
    expect(m.stages.map((s) => `${s.name}:${s.tag}`)).toEqual(["m:stage-build", "m:stage-mid"]);
    expect(m.stages[1]!.steps).toMatchObject([
      { op: "copy_from", image: "m:stage-build", paths: ["/out"], dest: "/mid" },
    ]);
    expect(m.steps).toMatchObject([
      {
        op: "copy_from",
        image: "m:stage-mid",
        paths: ["/mid/a*"],
        dest: "/final/",
        chown: "1:1",
        text: "COPY --from=m:stage-mid --chown=1:1 /mid/a* /final/",
      },
      { op: "copy_from", image: "m:stage-build", paths: ["/out"], dest: "/zero" },
      { op: "copy_from", image: "data-tools:v2", paths: ["/etc/os-release"], dest: "/x" },
    ]);
    expect((await imageFromDockerfile(multi, { name: "m", tag: "v1" })).stages.map((s) => s.tag)).toEqual([
      "v1-stage-build",
      "v1-stage-mid",
    ]);
    // Only the stages built count: --target build needs no other stage.
    const build = await imageFromDockerfile(multi, { name: "m", target: "build" });
    expect([build.steps.length, build.stages.length]).toEqual([1, 0]);
    const self = dockerfile("Dockerfile.self", "FROM debian-minimal AS a\nCOPY --from=a /x /y\n");
    await expect(imageFromDockerfile(self, { name: "s" })).rejects.toThrow(
      /Dockerfile\.self:2: .*a stage cannot copy from itself/,
    );
    const later = dockerfile("Dockerfile.later", "FROM debian-minimal\nCOPY --from=1 /x /y\nFROM debian-minimal\n");
    await expect(imageFromDockerfile(later, { name: "s" })).rejects.toThrow(
      /Dockerfile\.later:2: .*no such stage before this one/,
    );
    const empty = dockerfile("Dockerfile.empty-run", "FROM debian-minimal\nRUN <<EOF\n   \nEOF\n");
    const err = (await imageFromDockerfile(empty, { name: "e" }).catch((e: unknown) => e)) as SbxError;
    expect(err).toBeInstanceOf(SbxError);
    expect(err.message).toMatch(/Dockerfile\.empty-run:2: the command is empty$/);
    expect(err.details).toMatchObject({ line: 2 });
    await expect(imageFromDockerfile(join(ctx, "nope", "Dockerfile"), { name: "n" })).rejects.toThrow(
      /cannot read the Dockerfile .*: no such file/,
    );
    await expect(imageFromDockerfile(empty.replace("empty-run", "path"), { name: "Bad Name" })).rejects.toThrow(
      /invalid image name/i,
    );
  });
});

describe(".dockerignore", () => {
  it("anchors patterns at the context root, cleans paths, and has no directory-only patterns", () => {
    expect(dockerignoreToGitignore("# c\n\n*.log\n  /build/  \n!keep.log\n**/*.tmp\n./a/../docs\n..\n")).toBe(
      "/*.log\n/build\n!/keep.log\n/**/*.tmp\n/docs",
    );
    const r = new IgnoreRules(dockerignoreToGitignore("*.log\nnode_modules\n**/*.tmp\n!keep.log\nsrc/*.bak\n"));
    expect([r.ignores("a.log", false), r.ignores("sub/a.log", false), r.ignores("keep.log", false)]).toEqual([
      true,
      false,
      false,
    ]);
    expect([
      r.ignores("node_modules", true),
      r.ignores("node_modules", false),
      r.ignores("x/node_modules", true),
    ]).toEqual([true, true, false]);
    expect([
      r.ignores("a.tmp", false),
      r.ignores("x/y/a.tmp", false),
      r.ignores("src/a.bak", false),
      r.ignores("src/x/a.bak", false),
    ]).toEqual([true, true, true, false]);
  });

  it("leaves out what it names from what is uploaded; <Dockerfile>.dockerignore wins", async () => {
    const dir = join(ctx, "ignore-ctx");
    mkdirSync(join(dir, "logs"), { recursive: true });
    mkdirSync(join(dir, "src", "logs"), { recursive: true });
    for (const f of [
      "app.py",
      "debug.log",
      "logs/a.txt",
      "src/main.py",
      "src/debug.log",
      "src/logs/b.txt",
      ".sbxignore",
    ])
      writeFileSync(join(dir, f), f);
    writeFileSync(join(dir, ".dockerignore"), "*.log\nlogs/\n");
    // .sbxignore is not read for Dockerfiles.
    writeFileSync(join(dir, ".sbxignore"), "*.py\n");
    const path = join(dir, "Dockerfile");
    writeFileSync(path, "FROM debian-minimal\nCOPY . /app/\n");
    const entries = async () => {
      const img = await imageFromDockerfile(path, { name: "ign" });
      await img.build({ client, replace: true });
      const def = await img.toDefinition();
      const step = def.steps[0] as Extract<Step, { context: string }>;
      const names: string[] = [];
      tar.t({
        file: fake.services.contexts.path(step.context),
        sync: true,
        onReadEntry: (e) => void names.push(e.path),
      });
      return names
        .map((n) => n.replace(/^0\/ignore-ctx\//, ""))
        .filter(Boolean)
        .sort();
    };
    expect(await entries()).toEqual([
      ".dockerignore",
      ".sbxignore",
      "Dockerfile",
      "app.py",
      "src/",
      "src/debug.log",
      "src/logs/",
      "src/logs/b.txt",
      "src/main.py",
    ]);
    writeFileSync(`${path}.dockerignore`, "src\n");
    expect(await entries()).toEqual([
      ".dockerignore",
      ".sbxignore",
      "Dockerfile",
      "Dockerfile.dockerignore",
      "app.py",
      "debug.log",
      "logs/",
      "logs/a.txt",
    ]);
    writeFileSync(join(dir, "Dockerfile"), "FROM debian-minimal\nCOPY src/main.py /app/\n");
    await expect(imageFromDockerfile(path, { name: "ign" }).then((i) => i.toDefinition())).rejects.toThrow(
      /src\/main\.py is excluded by .*Dockerfile\.dockerignore/,
    );
  });
});
