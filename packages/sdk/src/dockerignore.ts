// `.dockerignore` for Dockerfile builds, read with the `.sbxignore` matcher: each Docker pattern is
// rewritten to the gitignore pattern that matches the same paths. Docker differs from gitignore in
// that patterns are always relative to the context root (`*.log` is top-level only; `**/*.log` is
// any depth), a trailing `/` does not mean "directories only", and paths are cleaned (`./a/../b`
// is `b`). Not carried over: Docker's `!` can re-include files inside an excluded directory; here,
// as in git, nothing below an excluded directory comes back.
import { readFile } from "node:fs/promises";
import { basename, posix, resolve } from "node:path";
import { IgnoreRules } from "./sbxignore.js";

/** The gitignore lines that exclude what the `.dockerignore` text excludes. */
export function dockerignoreToGitignore(text: string): string {
  const out: string[] = [];
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    let line = (i === 0 ? raw.replace(/^\uFEFF/, "") : raw).trim();
    if (!line || line.startsWith("#")) continue;
    const negate = line.startsWith("!");
    if (negate) line = line.slice(1).trim();
    if (!line) continue;
    // Docker cleans the pattern as a path (also dropping a leading and a trailing `/`).
    line = posix.normalize(line).replace(/^\/+/, "").replace(/\/+$/, "");
    if (!line || line === "." || line.startsWith("../") || line === "..") continue;
    // A leading `/` anchors a gitignore pattern at the root, as every Docker pattern is.
    out.push(`${negate ? "!" : ""}/${line}`);
  }
  return out.join("\n");
}

/** `.dockerignore` text as IgnoreRules; `file` names it in messages. */
export function dockerIgnoreRules(text: string, file?: string): IgnoreRules {
  return new IgnoreRules(dockerignoreToGitignore(text), file);
}

/**
 * The ignore rules of a build: `<contextDir>/.sbxignore` by default, else `file` (relative to
 * the context, or absolute), read with Docker's rules when its name ends in `.dockerignore`.
 * A missing file means no rules.
 */
export async function loadIgnoreFile(contextDir: string, file?: string): Promise<IgnoreRules> {
  if (file === undefined) return IgnoreRules.load(contextDir);
  const path = resolve(contextDir, file);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return new IgnoreRules();
    throw err;
  }
  return basename(path).endsWith(".dockerignore") ? dockerIgnoreRules(text, path) : new IgnoreRules(text, path);
}
