// The image loader on real temp files in a folder without node_modules: TypeScript that imports
// "sbx", images exported directly or through defineFunction, the choice among several, and the
// errors for a file that is missing, broken, or defines nothing.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Image } from "@sbx-sh/sdk";
import { chooseImage, loadImageFile } from "./image-loader.js";

const dir = mkdtempSync(join(tmpdir(), "sbx-loader-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe("loadImageFile", () => {
  it("loads TypeScript that imports sbx with no node_modules around, keeping line numbers", async () => {
    const path = file(
      "image.ts",
      `import { Image, type ImageStep } from "sbx";

interface Settings { python: string }
const settings: Settings = { python: "python3" };

export const data = new Image({ name: "data-tools", baseImage: "debian-minimal" })
  .run(\`apt-get install -y \${settings.python}\`)
  .env("APP_HOME", "/opt/app");
export const count: number = data.steps.length;
export const first = (s: ImageStep[]) => s[0];
`,
    );
    const loaded = await loadImageFile(path);
    expect(loaded.images).toHaveLength(1);
    const [found] = loaded.images;
    expect(found).toMatchObject({ exportName: "data", via: "export" });
    expect(found!.image).toBeInstanceOf(Image);
    expect(found!.image.toString()).toBe("FROM debian-minimal\nRUN apt-get install -y python3\nENV APP_HOME=/opt/app");
    expect(found!.image.source).toEqual({ file: path, line: 6, column: 21 });
    expect(found!.image.steps.map((s) => s.source)).toEqual([
      { file: path, line: 7, column: 4 },
      { file: path, line: 8, column: 4 },
    ]);
  });

  it("finds images attached to exported functions and default exports, each once", async () => {
    const path = file(
      "fns.ts",
      `import { Image, defineFunction } from "sbx";
const shared = new Image("shared");
export const api = new Image("api");
export const alsoApi = api;
export const worker = defineFunction({ image: shared }, async (x: number) => x * 2);
export const again = defineFunction({ image: shared }, () => 0);
export default new Image("main");
`,
    );
    const loaded = await loadImageFile(path);
    // In declaration order; an image exported twice is listed once, under the first name alphabetically.
    expect(loaded.images.map((f) => [f.image.name, f.exportName, f.via])).toEqual([
      ["shared", "again", "function"],
      ["api", "alsoApi", "export"],
      ["main", "default", "export"],
    ]);
    expect(chooseImage(loaded, "shared").via).toBe("function");
    expect(chooseImage(loaded, "default").image.name).toBe("main");
    expect(() => chooseImage(loaded)).toThrow(
      /has 3 images: shared \(export again, a function's image\), api \(export alsoApi\), main \(export default\); choose one with --image-name <name>/,
    );
    expect(() => chooseImage(loaded, "nope")).toThrow(/has no image named nope; it has: shared/);
  });

  it("recognises images made through sbx/<module> (a second copy of the SDK)", async () => {
    const path = file(
      "sub.ts",
      `import { Image } from "sbx/image";\nexport const img = new Image("sub").run("true");\n`,
    );
    const [found] = (await loadImageFile(path)).images;
    expect(found!.image).toBeInstanceOf(Image);
    expect(found!.image.steps[0]!.source).toMatchObject({ file: path, line: 2 });
  });

  it("says what is wrong with a missing, broken, empty or invalid file", async () => {
    await expect(loadImageFile(join(dir, "none.ts"))).rejects.toThrow(/image file .*none\.ts does not exist/);
    await expect(loadImageFile(file("broken.ts", "export const x = ;\n"))).rejects.toMatchObject({
      code: "invalid_argument",
      message: expect.stringMatching(/^cannot load .*broken\.ts/),
    });
    expect(() => chooseImage({ file: join(dir, "e.ts"), images: [] })).toThrow(/exports no image: export one/);
    const bad = file("bad.ts", `import { Image } from "sbx";\n\nexport const img = new Image("Bad Name");\n`);
    await expect(loadImageFile(bad)).rejects.toMatchObject({
      code: "invalid_name",
      message: expect.stringMatching(/^cannot load .*bad\.ts \(.*bad\.ts:3\): invalid image name "Bad Name"/),
    });
  });
});
