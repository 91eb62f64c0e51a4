// The CLI launcher (bin/sbx.js) runs the one-file bundle with a V8 code cache in the user's cache
// dir: written once (0600, in a 0700 dir) after the first run, used as is afterwards; a broken or
// foreign cache file is refused by V8 and replaced, one that others could write is never used, and
// the command works all along; caches of earlier builds are removed.
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { REPO } from "./harness.js";

const cacheHome = mkdtempSync(join(tmpdir(), "sbx-launcher-"));
afterAll(() => rmSync(cacheHome, { recursive: true, force: true }));

function sbxVersion(): { code: number; stdout: string } {
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_CACHE_HOME: cacheHome, SBX_HOST: "unix:///nonexistent.sock" };
  delete env.SBX_FROM_SOURCE;
  const r = spawnSync(process.execPath, [join(REPO, "packages", "cli", "bin", "sbx.js"), "version", "--json"], {
    env,
    encoding: "utf8",
    timeout: 60_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout };
}

describe("the CLI launcher's code cache", () => {
  it("is written once, reused, and replaced when broken", () => {
    const dir = join(cacheHome, "sbx");
    // A cache an earlier build of the CLI left: removed when this one writes its own.
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, "cli-1-1-v0.0.0.v8"), "old");
    const first = sbxVersion();
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ daemon: null });
    const [name, ...more] = readdirSync(dir);
    expect(more).toEqual([]);
    const file = join(dir, name!);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const written = statSync(file);
    expect(written.size).toBeGreaterThan(10_000);

    // Accepted by V8: not written again.
    expect(sbxVersion().code).toBe(0);
    expect(statSync(file).mtimeMs).toBe(written.mtimeMs);

    // Garbage in its place: refused, the command still works, a good cache replaces it.
    writeFileSync(file, Buffer.alloc(4096, 7));
    const again = sbxVersion();
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ daemon: null });
    expect(readFileSync(file).equals(Buffer.alloc(4096, 7))).toBe(false);
    expect(statSync(file).size).toBeGreaterThan(10_000);

    // A good cache that others could have written is not trusted: it is replaced by one of our own.
    chmodSync(file, 0o666);
    const planted = statSync(file).mtimeMs;
    expect(sbxVersion().code).toBe(0);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(file).mtimeMs).not.toBe(planted);
  });
});
