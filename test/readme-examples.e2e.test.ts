// The README's CLI examples, run as written against the real daemon on the default image: the
// quick-start block line by line in one bash, each line ending as its comment says (exit 0, or
// the "exits N" it names). Lines that need a terminal or manage the daemon itself are skipped,
// each for a stated reason, so a new example runs unless someone says why it cannot.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import { REPO } from "./harness.js";

const host = inject("sbxHost");
const SKIP: Array<[RegExp, string]> = [
  [/^sbx shell /, "interactive: needs a terminal"],
  [/^sbx exec -it /, "interactive: needs a terminal"],
  [/^sbx daemon /, "manages the daemon the other tests use"],
];

/** The lines of the first ```sh block after `heading`. */
function block(readme: string, heading: string): string[] {
  const from = readme.indexOf(heading);
  const start = readme.indexOf("```sh\n", from) + "```sh\n".length;
  return readme
    .slice(start, readme.indexOf("```", start))
    .split("\n")
    .filter((l) => l.trim());
}

const cwd = mkdtempSync(join(tmpdir(), "sbx-readme-"));
afterAll(() => {
  spawnSync(process.execPath, [join(REPO, "packages", "cli", "bin", "sbx.js"), "rm", "scratch"], {
    env: { ...process.env, SBX_HOST: host },
  });
});

describe("README", () => {
  it("runs every CLI quick-start example on the default image", () => {
    const lines = block(readFileSync(join(REPO, "README.md"), "utf8"), "## CLI");
    expect(lines.length).toBeGreaterThan(15);
    mkdirSync(join(cwd, "dir"));
    writeFileSync(join(cwd, "dir", "file.txt"), "hello\n");
    const run = lines.filter((l) => !SKIP.some(([re]) => re.test(l)));
    expect(lines.length - run.length).toBe(4);
    // Each line, then its exit code on a line of its own, so one failure does not hide the rest.
    const script = [
      "set -o pipefail",
      `sbx() { node ${JSON.stringify(join(REPO, "packages", "cli", "bin", "sbx.js"))} "$@"; }`,
      ...run.flatMap((l, i) => [l, `echo "@@${i}:$?" >&2`]),
    ].join("\n");
    const r = spawnSync("bash", ["-c", script], {
      cwd,
      env: { ...process.env, SBX_HOST: host },
      encoding: "utf8",
      timeout: 600_000,
    });
    const codes = new Map([...r.stderr.matchAll(/^@@(\d+):(\d+)$/gm)].map((m) => [Number(m[1]), Number(m[2])]));
    const failed = run
      .map((line, i) => ({ line, code: codes.get(i), want: Number(/exits (\d+)/.exec(line)?.[1] ?? 0) }))
      .filter((x) => x.code !== x.want);
    expect(failed, r.stderr).toEqual([]);
    expect(r.stdout).toContain("hello\n");
    expect(r.stdout).toContain("DATA\n");
    expect(r.stdout).toContain("42\n");
  });
});
