// The Python SDK's pytest suite (python/tests), run against the shared test daemon of this e2e run
// and reported test by test: each pytest test is a test here, so scripts/test.sh's final
// "N passed, N failed" counts them. pytest is collected first (fast), then run once in beforeAll;
// a pytest that finds no tests (its exit 5), cannot start, or errors outside a test fails here too.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { REPO } from "./harness.js";

const PY_DIR = join(REPO, "python");
const env = { ...process.env, PYTHONDONTWRITEBYTECODE: "1", PYTHONPATH: join(PY_DIR, "src") };

function pytest(args: string[], extraEnv: Record<string, string> = {}) {
  return spawnSync("python3", ["-m", "pytest", ...args], {
    cwd: PY_DIR,
    env: { ...env, ...extraEnv },
    encoding: "utf8",
    timeout: 600_000,
  });
}

const collected = pytest(["--collect-only", "-q"]);
const ids = (collected.stdout ?? "").split("\n").filter((l) => l.includes("::"));

interface Outcome {
  passed: boolean;
  message: string;
}
const outcomes = new Map<string, Outcome>();
let run: ReturnType<typeof pytest> | undefined;
const tmp = mkdtempSync(join(tmpdir(), "sbx-pytest-"));

/** `tests/test_unit.py::test_x` for each <testcase classname="tests.test_unit" name="test_x">, with its failure. */
function parseJunit(xml: string): void {
  const re = /<testcase classname="([^"]*)" name="([^"]*)"[^>]*?(\/>|>([\s\S]*?)<\/testcase>)/g;
  for (const m of xml.matchAll(re)) {
    const id = `${m[1]!.replace(/\./g, "/")}.py::${m[2]}`;
    const body = m[4] ?? "";
    const failed = /<(failure|error)\b/.test(body);
    const skipped = /<skipped\b/.test(body);
    outcomes.set(id, { passed: !failed && !skipped, message: unescape(body).slice(0, 4000) });
  }
}

function unescape(s: string): string {
  return s
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&#10;/g, "\n")
    .replace(/&amp;/g, "&");
}

beforeAll(() => {
  if (!ids.length) return;
  const junit = join(tmp, "junit.xml");
  run = pytest(["-q", `--junitxml=${junit}`, "-o", "junit_family=xunit1"], { SBX_TEST_HOST: inject("sbxHost") });
  try {
    parseJunit(readFileSync(junit, "utf8"));
  } catch {
    // no report: the status test below says why
  }
}, 600_000);

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("python SDK (pytest)", () => {
  it("pytest collects the suite", () => {
    expect(collected.error, "python3 could not be started").toBeUndefined();
    expect(
      ids.length,
      `pytest found no tests (exit ${collected.status}):\n${collected.stdout}${collected.stderr}`,
    ).toBeGreaterThan(0);
  });

  for (const id of ids) {
    it(id, () => {
      const outcome = outcomes.get(id);
      expect(outcome, `no result for ${id}; pytest said:\n${run?.stdout}${run?.stderr}`).toBeDefined();
      expect(outcome!.passed, outcome!.message).toBe(true);
    });
  }

  it("pytest ends without errors outside the tests", () => {
    if (!ids.length) return expect.fail("nothing was run");
    // Exit 1 means some tests failed (each counted above); anything else but 0 is an error of its own.
    const failedTests = [...outcomes.values()].some((o) => !o.passed);
    expect(
      run?.status === 0 || (run?.status === 1 && failedTests),
      `pytest exited ${run?.status}:\n${run?.stdout}${run?.stderr}`,
    ).toBe(true);
  });
});
