// The staging script that takes a COPY/ADD step's sources from a Tensorlake build context, run
// here with the host's sh on a temporary context (in a build it runs in the builder sandbox):
// files, folders, globs, the context itself, and the refusals (missing, symlink out of it).
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { STAGE_SCRIPT, parseStaged } from "./build-context.js";

let dir = "";
let ctx = "";
let out = "";

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "tl-stage-"));
  ctx = join(dir, "context");
  out = join(dir, "out");
  mkdirSync(join(ctx, "app", "sub"), { recursive: true });
  writeFileSync(join(ctx, "a.txt"), "A");
  writeFileSync(join(ctx, "b.txt"), "B");
  writeFileSync(join(ctx, "app", "sub", "c"), "C");
  writeFileSync(join(dir, "outside"), "secret");
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function stage(...sources: string[]): { code: number; stdout: string; stderr: string } {
  try {
    const stdout = execFileSync("sh", ["-c", STAGE_SCRIPT, "sbx-stage", ctx, out, ...sources], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
    return { code: 0, stdout, stderr: "" };
  } catch (err) {
    const e = err as { status: number; stdout: string; stderr: string };
    return { code: e.status, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("STAGE_SCRIPT", () => {
  it("stages files, folders and glob matches as <i>/<name>", () => {
    const r = stage("a.txt", "app", "*.txt");
    expect(r.code).toBe(0);
    expect(parseStaged(r.stdout, "copy")).toEqual([
      { name: "a.txt", type: "file" },
      { name: "app", type: "dir" },
      { name: "a.txt", type: "file" },
      { name: "b.txt", type: "file" },
    ]);
    expect(readFileSync(join(out, "1", "app", "sub", "c"), "utf8")).toBe("C");
    expect(readFileSync(join(out, "3", "b.txt"), "utf8")).toBe("B");
  });

  it("stages the context itself under one name, and follows a link that stays inside", () => {
    symlinkSync("a.txt", join(ctx, "inner-link"));
    const r = stage(".", "inner-link");
    expect(parseStaged(r.stdout, "copy")).toEqual([
      { name: "context", type: "dir" },
      { name: "inner-link", type: "file" },
    ]);
    expect(readFileSync(join(out, "1", "inner-link"), "utf8")).toBe("A");
  });

  it("refuses a missing source (3) and a symlink out of the context (4), staging nothing of it", () => {
    expect(stage("nope.txt")).toMatchObject({ code: 3, stderr: "nope.txt\n" });
    symlinkSync(join(dir, "outside"), join(ctx, "leak"));
    symlinkSync(dir, join(ctx, "up"));
    expect(stage("leak")).toMatchObject({ code: 4, stderr: "leak\n" });
    expect(stage("up/outside")).toMatchObject({ code: 4 });
    expect(() => readFileSync(join(out, "0", "leak"))).toThrow();
  });

  it("says when no context was uploaded (5)", () => {
    rmSync(ctx, { recursive: true });
    expect(stage("a.txt")).toMatchObject({ code: 5 });
  });
});

describe("parseStaged", () => {
  it("marks local archives of ADD for unpacking, not those of COPY", () => {
    expect(parseStaged("x.tar.gz\tfile\n", "add")).toEqual([{ name: "x.tar.gz", type: "file", extract: true }]);
    expect(parseStaged("x.tar.gz\tfile\n", "copy")).toEqual([{ name: "x.tar.gz", type: "file" }]);
  });

  it("refuses lines a tampered script could print", () => {
    expect(() => parseStaged("../x\tfile\n", "copy")).toThrow(/unexpected line/);
    expect(() => parseStaged("x\tsocket\n", "copy")).toThrow(/unexpected line/);
    expect(() => parseStaged("x\n", "copy")).toThrow(/unexpected line/);
  });
});
