// The Image API: chaining, the steps and their text, source lines pointing at this file, eager
// validation errors, the default base image, the IR it produces, and defineFunction.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as tar from "tar";
import { afterAll, describe, expect, it, vi } from "vitest";
import { describeStep } from "@sbx-sh/protocol";
import { defineFunction, Image, imageOf, SbxError } from "./index.js";

const here = fileURLToPath(import.meta.url);
const ctx = mkdtempSync(join(tmpdir(), "sbx-image-test-"));
afterAll(() => rmSync(ctx, { recursive: true, force: true }));

function issueImage(): Image {
  return new Image({ name: "data-tools", baseImage: "debian-minimal" })
    .run("apt-get update && apt-get install -y --no-install-recommends python3 && apt-get clean")
    .env("APP_HOME", "/opt/app")
    .workdir("/opt/app")
    .copy("scripts/", "/opt/app/scripts/")
    .add("assets.tar.gz", "/opt/app/assets/")
    .run("python3 scripts/prepare.py");
}

describe("Image", () => {
  it("chains steps and lists them as lines", () => {
    const img = issueImage().user("app").entrypoint(["python3"]).cmd(["-m", "http.server"]);
    expect(img.steps.map((s) => s.op)).toEqual([
      "run",
      "env",
      "workdir",
      "copy",
      "add",
      "run",
      "user",
      "entrypoint",
      "cmd",
    ]);
    expect(img.toString().split("\n")).toEqual([
      "FROM debian-minimal",
      "RUN apt-get update && apt-get install -y --no-install-recommends python3 && apt-get clean",
      "ENV APP_HOME=/opt/app",
      "WORKDIR /opt/app",
      "COPY scripts/ /opt/app/scripts/",
      "ADD assets.tar.gz /opt/app/assets/",
      "RUN python3 scripts/prepare.py",
      "USER app",
      'ENTRYPOINT ["python3"]',
      'CMD ["-m","http.server"]',
    ]);
    expect(img).toMatchObject({ name: "data-tools", tag: "latest", baseImage: "debian-minimal" });
  });

  it("remembers the file, line and column of each step", () => {
    // The lines below are counted from `line`; `two` keeps one call per line (prettier-ignore).
    const line = Number(new Error().stack!.split("\n")[1]!.match(/:(\d+):\d+\)?$/)![1]);
    const img = new Image("a").run("true").env("A", "1");
    // prettier-ignore
    const two = new Image("b")
      .run("x")
      .copy("f", "/f", { chmod: 0o644 });
    expect(img.source).toEqual({ file: here, line: line + 1, column: 17 });
    expect(img.steps.map((s) => s.source)).toEqual([
      { file: here, line: line + 1, column: 32 },
      { file: here, line: line + 1, column: 44 },
    ]);
    expect(two.steps.map((s) => s.source!.line)).toEqual([line + 4, line + 5]);
    expect(two.steps[1]).toMatchObject({
      op: "copy",
      src: ["f"],
      dest: "/f",
      chmod: "0644",
      text: "COPY --chmod=0644 f /f",
    });
  });

  it("takes positional arguments, a tag, and the default base image", () => {
    expect(new Image("web", "ubuntu-minimal")).toMatchObject({
      name: "web",
      baseImage: "ubuntu-minimal",
      tag: "latest",
    });
    expect(new Image({ name: "web", tag: "v1.2" }).tag).toBe("v1.2");
    const img = new Image("plain");
    const before = Image.defaultBaseImage;
    try {
      Image.defaultBaseImage = "custom-base";
      expect(img.baseImage).toBe("custom-base");
      expect(img.toString()).toBe("FROM custom-base");
    } finally {
      Image.defaultBaseImage = before;
    }
  });

  it("reads the default base image from SBX_DEFAULT_BASE_IMAGE when the SDK loads", async () => {
    vi.stubEnv("SBX_DEFAULT_BASE_IMAGE", "ubuntu-minimal");
    vi.resetModules();
    try {
      const fresh = await import("./image.js");
      expect(fresh.Image.defaultBaseImage).toBe("ubuntu-minimal");
      expect(new fresh.Image("x").baseImage).toBe("ubuntu-minimal");
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it("validates arguments at once, naming the method and the line", () => {
    const img = new Image("v");
    const bad = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        expect(err).toBeInstanceOf(SbxError);
        return err as SbxError;
      }
      throw new Error("no error");
    };
    expect(bad(() => new Image("Bad Name")).code).toBe("invalid_name");
    expect(bad(() => new Image({ name: "x", tag: "-v" })).code).toBe("invalid_name");
    expect(bad(() => new Image({} as never)).message).toMatch(/needs a name/);
    expect(bad(() => new Image("x", "has space")).message).toMatch(/invalid base image/);
    const e = bad(() => img.env("1A", "x"));
    expect(e.code).toBe("invalid_argument");
    expect(e.message).toMatch(
      /^image v: env\(\): invalid variable name "1A".*\(at packages\/sdk\/src\/image\.test\.ts:\d+:\d+\)$/,
    );
    expect(bad(() => img.env("A", 3 as never)).message).toMatch(/must be a string/);
    expect(bad(() => img.run("  ")).message).toMatch(/empty/);
    expect(bad(() => img.run([])).message).toMatch(/array command/);
    expect(bad(() => img.copy("https://x/y", "/y")).message).toMatch(/use add\(\)/);
    expect(bad(() => img.add("ftp://x/y", "/y")).message).toMatch(/only http and https/);
    expect(bad(() => img.copy("a", "")).message).toMatch(/destination/);
    expect(bad(() => img.copy("a", "/a", { chown: "root user" })).message).toMatch(/invalid chown/);
    expect(bad(() => img.copy("a", "/a", { chmod: "999" })).message).toMatch(/invalid chmod/);
    expect(bad(() => img.user("a b")).message).toMatch(/invalid user/);
    expect(bad(() => img.copyFrom("my image", "/a", "/b")).message).toMatch(/copyFrom\(\): invalid image/);
    expect(bad(() => img.copyFrom("builder", [], "/b")).message).toMatch(/give a path in the image/);
    expect(bad(() => img.copyFrom("builder", "/a", "/b", { chmod: "8" })).message).toMatch(/invalid chmod/);
    expect(bad(() => img.entrypoint([1] as never)).message).toMatch(/array of strings/);
    expect(img.steps).toEqual([]);
    for (let i = 0; i < 200; i++) img.env("N", String(i));
    expect(bad(() => img.env("N", "x")).message).toMatch(/at most 200 steps/);
  });

  it("treats a string entrypoint as shell form and keeps array commands as exec form", () => {
    const img = new Image("e").entrypoint("exec app --port 80").run(["sh", "-c", "echo hi"]);
    expect(img.steps[0]).toMatchObject({ args: ["/bin/sh", "-c", "exec app --port 80"] });
    expect(img.toString()).toContain('RUN ["sh","-c","echo hi"]');
  });

  // That the daemon's validation takes these definitions: image-build.test.ts.
  it("produces an ImageDefinition whose step text matches the daemon's describeStep", async () => {
    mkdirSync(join(ctx, "scripts"));
    writeFileSync(join(ctx, "scripts", "prepare.py"), "print('hi')\n");
    tar.c({ gzip: true, file: join(ctx, "assets.tar.gz"), cwd: ctx, sync: true }, ["scripts"]);
    const img = issueImage();
    const def = await img.toDefinition({ contextDir: ctx });
    expect(def).toMatchObject({ name: "data-tools", tag: "latest", baseImage: "debian-minimal" });
    expect(def.steps[3]).toMatchObject({
      op: "copy",
      dest: "/opt/app/scripts/",
      sources: [{ name: "scripts", type: "dir" }],
      context: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
    });
    expect(def.steps[4]).toMatchObject({
      op: "add",
      sources: [{ name: "assets.tar.gz", type: "file", extract: true }],
    });
    expect(def.steps[0]!.source).toMatchObject({ file: "packages/sdk/src/image.test.ts", line: expect.any(Number) });
    expect(def.steps.map(describeStep)).toEqual(img.toString().split("\n").slice(1));
  });

  it("passes copyFrom() to the daemon as a copy_from step with no context to upload", async () => {
    const img = new Image("app").copyFrom("builder:v1", ["/out/app", "/out/lib/*.so"], "/usr/local/", { chown: "app" });
    const def = await img.toDefinition({ contextDir: ctx });
    expect(def.steps).toEqual([
      {
        op: "copy_from",
        image: "builder:v1",
        paths: ["/out/app", "/out/lib/*.so"],
        dest: "/usr/local/",
        chown: "app",
        text: "COPY --from=builder:v1 --chown=app /out/app /out/lib/*.so /usr/local/",
        source: expect.any(Object),
      },
    ]);
  });
});

describe("defineFunction", () => {
  it("returns the handler with its image attached", async () => {
    const image = new Image("fn-image");
    const fn = defineFunction({ image }, async (x: string) => x.toUpperCase());
    expect(await fn("a")).toBe("A");
    expect(imageOf(fn)).toBe(image);
    expect(imageOf(() => 1)).toBeUndefined();
    expect(() => defineFunction({ image: {} as Image }, () => 1)).toThrow(/must be an Image/);
  });

  it("recognises images from another copy of the SDK by their brand", () => {
    const original = new Image("foreign").env("A", "1");
    const foreign = {
      ...Object.fromEntries(
        ["name", "tag", "baseImage", "source", "steps"].map((k) => [k, original[k as keyof Image]]),
      ),
      [Symbol.for("sbx.image")]: true,
    };
    expect(Image.isImage(foreign)).toBe(true);
    const copy = Image.from(foreign);
    expect(copy).toBeInstanceOf(Image);
    expect(copy.toString()).toBe(original.toString());
    expect(copy.source).toEqual(original.source);
  });
});
