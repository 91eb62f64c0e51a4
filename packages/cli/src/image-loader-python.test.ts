// The Python image loader on its own (no daemon): images found at top level and through
// @function, replayed with their Python lines; and the bad inputs: no image, a bad step, a file
// that prints, exits, never ends, or runs on a Python older than 3.11.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { SbxError } from "@sbx-sh/protocol";
import { chooseImage, loadImageFile } from "./image-loader.js";

const dir = mkdtempSync(join(tmpdir(), "sbx-pyload-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => vi.unstubAllEnvs());

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

async function loadError(path: string): Promise<SbxError> {
  let err: unknown;
  try {
    chooseImage(await loadImageFile(path));
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(SbxError);
  return err as SbxError;
}

describe("loading image.py", () => {
  it("finds top-level images and images attached to functions, with their Python lines", async () => {
    const path = file(
      "ok.py",
      [
        "from sbx_sdk import Image, function",
        'print("to stderr, not the answer")',
        'a = Image(name="py-a", base_image="debian-minimal").run("true")',
        'b = (Image(name="py-b")',
        '  .copy(["x", "y"], "/opt/", chown="1:1", chmod=0o644))',
        "@function(image=b)",
        "def handler(): pass",
        'if __name__ == "__main__":',
        '    raise SystemExit("not run")',
      ].join("\n"),
    );
    const loaded = await loadImageFile(path);
    expect(loaded.images.map((f) => [f.image.name, f.exportName, f.via])).toEqual([
      ["py-a", "a", "export"],
      ["py-b", "b", "export"],
    ]);
    const b = loaded.images[1]!.image;
    expect(b.steps).toEqual([
      {
        op: "copy",
        src: ["x", "y"],
        dest: "/opt/",
        chown: "1:1",
        chmod: "0644",
        text: "COPY --chown=1:1 --chmod=0644 x y /opt/",
        source: { file: path, line: 5, column: 4 },
      },
    ]);
    expect(b.source).toMatchObject({ file: path, line: 4 });
  });

  it("says the file defines no image, or names the line of a bad step", async () => {
    expect((await loadError(file("none.py", "x = 1\n"))).message).toMatch(/none\.py defines no image/);
    const bad = await loadError(file("step.py", 'from sbx_sdk import Image\nimg = Image(name="a").env("1X", "y")\n'));
    expect(bad.code).toBe("invalid_argument");
    expect(bad.message).toMatch(/step\.py:2\): image a: env\(\): invalid variable name "1X"/);
    const exits = await loadError(file("exits.py", "import sys\nsys.exit(3)\n"));
    expect(exits.message).toMatch(/exits\.py:2\): SystemExit: 3/);
    const syntax = await loadError(file("syntax.py", "def f(:\n"));
    expect(syntax.message).toMatch(/syntax\.py:1\): SyntaxError/);
  });

  it("stops a file that never ends at the time limit", async () => {
    vi.stubEnv("SBX_IMAGE_LOAD_TIMEOUT", "1");
    const err = await loadError(file("loop.py", "while True:\n    pass\n"));
    expect(err.code).toBe("failed_precondition");
    expect(err.message).toMatch(/loop\.py: evaluating it took longer than 1 s/);
  });

  it("refuses a Python older than 3.11, and says when python3 is missing", async () => {
    // An interpreter that reports 3.9: the loader must say so before it imports anything newer.
    const old = file(
      "python3.9",
      '#!/bin/sh\nexec python3 -c \'import sys, runpy; sys.version_info = (3, 9, 2, "final", 0); sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name="__main__")\' "$@"\n',
    );
    chmodSync(old, 0o755);
    const ok = file("fine.py", 'from sbx_sdk import Image\nimg = Image(name="a")\n');
    vi.stubEnv("SBX_PYTHON", old);
    const err = await loadError(ok);
    expect(err.code).toBe("failed_precondition");
    expect(err.message).toMatch(/need Python 3\.11 or newer; .* is 3\.9\.2/);
    vi.stubEnv("SBX_PYTHON", join(dir, "no-such-python"));
    expect((await loadError(ok)).message).toMatch(/it is not installed/);
  });
});
