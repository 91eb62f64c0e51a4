// `sbx image create image.py` end to end: the CLI evaluates the Python file with python3 in a
// subprocess and builds what it defines exactly as for a .ts file (the same steps hit the same
// cache), the image launches with its files, env and workdir; a file that raises, defines no
// image or two, or prints to stdout gets a clear error (the loader's other bad inputs are unit-tested
// in packages/cli/src/image-loader-python.test.ts).
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
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
  for (const name of ["py-seed", "py-two-reg"]) await client.deleteImage(name).catch(() => undefined);
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

  it("names the file and line of an image file that raises (more bad input: image-loader-python.test.ts)", () => {
    const raises = sbx([
      "image",
      "create",
      file("raises.py", 'from sbx_sdk import Image\nx = 1\nraise ValueError("boom")\n'),
    ]);
    expect(raises.code).not.toBe(0);
    expect(raises.stderr).toMatch(/cannot load .*raises\.py \(.*raises\.py:3\): ValueError: boom/);
  });

  it("needs --image-name for two images and registers the one it names under --registered-name", async () => {
    const two = file(
      "two.py",
      'from sbx_sdk import Image\na = Image(name="py-two-a").run("true")\nb = Image(name="py-two-b").env("B", "1")\n',
    );
    const ambiguous = sbx(["image", "create", two]);
    expect(ambiguous.code).not.toBe(0);
    expect(ambiguous.stderr).toMatch(/has 2 images: py-two-a .*py-two-b .*--image-name/);
    const picked = sbx(["image", "create", two, "--image-name", "py-two-b", "--registered-name", "py-two-reg", "-q"]);
    expect(picked.code, picked.stderr).toBe(0);
    expect(picked.stdout.trim()).toMatch(/^sha256:[0-9a-f]{64}$/);
    const registered = await client.getImage("py-two-reg");
    expect(registered.config.env).toContain("B=1");
  });
});
