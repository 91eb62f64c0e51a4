import { describe, expect, it } from "vitest";
import type { ImageInfo } from "@sbx-sh/protocol";
import { assertImageFileKind } from "./image-loader.js";
import { isStageImage } from "./commands/image.js";

describe("image files sbx accepts", () => {
  it("takes .ts, .js and .py files and explains anything else", () => {
    for (const f of ["image.ts", "a/b.mjs", "x.cts", "y.js", "image.py"])
      expect(() => assertImageFileKind(f)).not.toThrow();
    for (const f of ["image.yaml", "image", "Dockerfile.txt"]) {
      let err: unknown;
      try {
        assertImageFileKind(f);
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ code: "invalid_argument" });
      expect((err as Error).message).toMatch(/TypeScript, JavaScript or Python file that defines an Image.*Dockerfile/);
    }
  });
});

describe("image ls", () => {
  it("knows the stage images of multi-stage builds", () => {
    const img = (tag: string, kind: "base" | "built" = "built") => ({ name: "web", tag, kind }) as ImageInfo;
    expect(isStageImage(img("stage-0"))).toBe(true);
    expect(isStageImage(img("v2-stage-1"))).toBe(true);
    expect(isStageImage(img("latest"))).toBe(false);
    expect(isStageImage(img("backstage"))).toBe(false);
  });
});
