// Golden tests of the Dockerfile front end (BuildKit's testfiles pattern): each folder under
// testdata/ holds a Dockerfile, optional args.json ({buildArgs, target, baseEnv}) and
// expected.json: the stages (steps shown with their line), warnings, and the flattened build, or
// the error. `UPDATE_GOLDEN=1 npx vitest run src/images/dockerfile.test.ts` rewrites expected.json.
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { SbxError } from "../errors.js";
import { flattenDockerfile, parseDockerfile, type DockerfileStep } from "./parser.js";
import { processWord, splitWords } from "./expand.js";

const root = fileURLToPath(new URL("./testdata", import.meta.url));

interface Args {
  buildArgs?: Record<string, string>;
  target?: string;
  baseEnv?: Record<string, string>;
}

function render(step: DockerfileStep): Record<string, unknown> {
  const { source, ...rest } = step;
  return { line: source.line, ...rest };
}

function errorOf(err: unknown): { message: string; code: string; details?: unknown } {
  if (!(err instanceof SbxError)) throw err;
  return { message: err.message, code: err.code, ...(err.details && { details: err.details }) };
}

function golden(text: string, args: Args): unknown {
  try {
    const parsed = parseDockerfile(text, {
      buildArgs: args.buildArgs ?? {},
      fileName: "Dockerfile",
      target: args.target,
      platform: { os: "linux", arch: "amd64" },
      baseEnv: args.baseEnv && (() => args.baseEnv),
    });
    let build: unknown;
    try {
      const flat = flattenDockerfile(parsed);
      const copies = flat.steps.flatMap((s) =>
        s.op === "copy_from"
          ? [{ line: s.source.line, image: s.image, stage: s.stage, paths: s.paths, dest: s.dest }]
          : [],
      );
      build = {
        baseImage: flat.baseImage,
        fromLine: flat.source.line,
        stepLines: flat.steps.map((s) => s.source.line),
        ...(copies.length && { copyFrom: copies, needs: flat.needs }),
      };
    } catch (err) {
      build = { error: errorOf(err) };
    }
    return {
      stages: parsed.stages.map((s) => ({ ...s, source: undefined, line: s.source.line, steps: s.steps.map(render) })),
      target: parsed.target,
      warnings: parsed.warnings,
      build,
    };
  } catch (err) {
    return { error: errorOf(err) };
  }
}

describe("Dockerfile goldens", () => {
  for (const name of readdirSync(root).sort()) {
    it(name, () => {
      const dir = join(root, name);
      const args = existsSync(join(dir, "args.json"))
        ? (JSON.parse(readFileSync(join(dir, "args.json"), "utf8")) as Args)
        : {};
      // Through JSON, so undefined fields vanish as they do in expected.json.
      const actual: unknown = JSON.parse(JSON.stringify(golden(readFileSync(join(dir, "Dockerfile"), "utf8"), args)));
      const file = join(dir, "expected.json");
      if (process.env.UPDATE_GOLDEN || !existsSync(file)) writeFileSync(file, `${JSON.stringify(actual, null, 2)}\n`);
      expect(actual).toEqual(JSON.parse(readFileSync(file, "utf8")));
    });
  }
});

describe("word processing", () => {
  const env: Record<string, string> = { A: "1", EMPTY: "", P: "/usr/local/lib/x.tar.gz" };
  const w = (s: string, escape?: string) => processWord(s, (n) => env[n], { escape });

  it("substitutes like BuildKit, quotes and escapes included", () => {
    expect(w("$A${A}x$Ax")).toBe("11x");
    expect(w("${EMPTY:-d}|${EMPTY-d}|${NO:-d}|${NO-d}")).toBe("d||d|d");
    expect(w("${A:+y}|${EMPTY:+y}|${EMPTY+y}|${NO+y}")).toBe("y||y|");
    expect(w("${P##*/}|${P#*/}|${P%.*}|${P%%.*}")).toBe(
      "x.tar.gz|usr/local/lib/x.tar.gz|/usr/local/lib/x.tar|/usr/local/lib/x",
    );
    expect(w(`'$A'"$A"\\$A"\\$A"'\\$A'`)).toBe("$A1$A$A\\$A");
    expect(w('"a\\b\\"c"')).toBe('a\\b"c');
    expect(w("${NO:-${A}${A}}")).toBe("11");
    expect(w("$ $1 $@ x$")).toBe("$   x$");
    expect(w("a`$A", "`")).toBe("a$A");
    expect(() => w("${A")).toThrow(/missing '}'/);
    expect(() => w("${NO:?is required}")).toThrow(/^NO: is required$/);
    expect(() => w("${EMPTY:?}")).toThrow(/EMPTY: is not allowed to be empty/);
    expect(w("${EMPTY?}")).toBe("");
    expect(() => w("${A/x/y}")).toThrow(/unsupported modifier/);
  });

  it("splits words at unquoted whitespace, keeping quotes", () => {
    expect(splitWords(`A=1  B="x y" C='p q'\\ r D=a\\ b`)).toEqual(["A=1", 'B="x y"', "C='p q'\\ r", "D=a\\ b"]);
    expect(splitWords(`E="" ''`)).toEqual(['E=""', "''"]);
  });
});
