// `sbx image create image.py` end to end: the CLI evaluates the Python file with python3 in a
// subprocess and builds what it defines exactly as for a .ts file (the same steps hit the same
// cache), the image launches with its files, env and workdir; a file that raises, defines no
// image or two, loops forever, prints to stdout or runs on an old Python gets a clear error.
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import { sharedClient, useSandboxes } from "./fixtures.js";
import { REPO } from "./harness.js";

const host = inject("sbxHost");
const client = sharedClient();
const sandbox = useSandboxes(client);
const SEED = join(REPO, "test", "fixtures", "python-seed");
const bad = mkdtempSync(join(tmpdir(), "sbx-py-bad-"));

function sbx(args: string[], env: Record<string, string> = {}): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(REPO, "packages", "cli", "bin", "sbx.js"), ...args], {
    env: { ...process.env, SBX_HOST: host, ...env },
    encoding: "utf8",
    timeout: 300_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function file(name: string, text: string): string {
  const path = join(bad, name);
  writeFileSync(path, text);
  return path;
}

afterAll(async () => {
  for (const name of ["py-seed", "py-two-b"]) await client.deleteImage(name).catch(() => undefined);
  rmSync(bad, { recursive: true, force: true });
});

describe("sbx image create image.py", () => {
  it("builds the seed's image.py with the .ts file's cache, keeps stdout clean, and launches it", async () => {
    const ts = sbx(["image", "create", join(SEED, "image.ts"), "--progress", "plain"]);
    expect(ts.code, ts.stderr).toBe(0);
    const py = sbx(["image", "create", join(SEED, "image.py"), "--replace", "--progress", "plain", "--json"]);
    expect(py.code, py.stderr).toBe(0);
    // Every step of the Python definition has the cache key of the same TypeScript step.
    expect(py.stderr.match(/CACHED \[\d\/5\]/g)).toHaveLength(5);
    // What image.py prints goes to stderr; stdout is exactly the image as JSON.
    expect(py.stderr).toContain("image.py prints this");
    const image = JSON.parse(py.stdout) as { name: string; config: { workingDir: string } };
    expect(image).toMatchObject({ name: "py-seed", config: { workingDir: "/opt/app" } });
    const sb = await sandbox({ image: "py-seed" });
    const r = await sb.run("sh", { args: ["-c", 'echo "$GREETING $(pwd)"; cat /etc/seed app/hello.txt assets/a/f'] });
    expect(r.stdout).toBe("hello from python /opt/app\nseeded\nhello file\nin the tar\n");
  });

  it("reports a failing build step at the Python file's line", () => {
    const f = file(
      "fails.py",
      'from sbx_sdk import Image\n\nimg = (Image(name="py-fails")\n  .run("true")\n  .run("echo oops; exit 4"))\n',
    );
    const r = sbx(["image", "create", f, "--progress", "plain"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/step 2\/2/);
    expect(r.stderr).toMatch(/fails\.py:5/);
    expect(r.stderr).toMatch(/exit code 4/);
  });

  it("names the file and line of an image file that raises, and needs an image", () => {
    const raises = sbx([
      "image",
      "create",
      file("raises.py", 'from sbx_sdk import Image\nx = 1\nraise ValueError("boom")\n'),
    ]);
    expect(raises.code).not.toBe(0);
    expect(raises.stderr).toMatch(/cannot load .*raises\.py \(.*raises\.py:3\): ValueError: boom/);
    const badStep = sbx([
      "image",
      "create",
      file("step.py", 'from sbx_sdk import Image\nimg = Image(name="a").env("1X", "y")\n'),
    ]);
    expect(badStep.stderr).toMatch(/step\.py:2\).*invalid variable name "1X"/);
    const none = sbx(["image", "create", file("none.py", "x = 1\n")]);
    expect(none.code).not.toBe(0);
    expect(none.stderr).toMatch(/none\.py defines no image/);
  });

  it("needs --image-name for two images and builds the one it names", () => {
    const two = file(
      "two.py",
      'from sbx_sdk import Image\na = Image(name="py-two-a").run("true")\nb = Image(name="py-two-b").env("B", "1")\n',
    );
    const ambiguous = sbx(["image", "create", two]);
    expect(ambiguous.code).not.toBe(0);
    expect(ambiguous.stderr).toMatch(/has 2 images: py-two-a .*py-two-b .*--image-name/);
    const picked = sbx(["image", "create", two, "--image-name", "py-two-b", "-q"]);
    expect(picked.code, picked.stderr).toBe(0);
    expect(picked.stdout.trim()).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it("stops an image file that never ends at the time limit", () => {
    const r = sbx(["image", "create", file("loop.py", "while True:\n    pass\n")], { SBX_IMAGE_LOAD_TIMEOUT: "1" });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/loop\.py: evaluating it took longer than 1 s/);
  });

  it("refuses a Python older than 3.11 with what to do", () => {
    // An interpreter that reports 3.9: the loader must say so before it imports anything newer.
    const old = file(
      "python3.9",
      '#!/bin/sh\nexec python3 -c \'import sys, runpy; sys.version_info = (3, 9, 2, "final", 0); sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name="__main__")\' "$@"\n',
    );
    chmodSync(old, 0o755);
    const r = sbx(["image", "create", join(SEED, "image.py")], { SBX_PYTHON: old });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/need Python 3\.11 or newer; .* is 3\.9\.2/);
  });
});
