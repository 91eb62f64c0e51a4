// Every `sbx ...` command that an error, hint, help text or doc names must exist: the words are
// walked down the real command tree and each flag is looked up on the command it lands on. A hint
// that sends users to a command that is not there (`sbx project token create`) fails here.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import type { Command } from "commander";
import { describe, expect, it } from "vitest";
import { buildProgram } from "./main.js";

const REPO = join(import.meta.dirname, "..", "..", "..");

function files(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir)) {
    if (e === "node_modules" || e === "dist" || e.startsWith(".")) continue;
    const p = join(dir, e);
    if (statSync(p).isDirectory()) files(p, out);
    else if (/\.(ts|md)$/.test(e) && !/\.test\.ts$/.test(e)) out.push(p);
  }
  return out;
}

/** `sbx ...` mentions: in backticks (hints, errors, docs) and `$ sbx ...` example lines. */
function mentions(text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(/\\?`(?:sudo )?sbx ([^`\\\n]+)\\?`/g)) found.push(m[1]!);
  for (const m of text.matchAll(/^\s*\$ (?:sudo )?(?:\w+=\$\()?sbx ([^\n#|;)]+)/gm)) found.push(m[1]!);
  // Lines of ```sh blocks in docs: each command of the line (`a; b`, `x | y`, `v=$(sbx ...)`).
  for (const b of text.matchAll(/```sh\n([\s\S]*?)```/g))
    for (const line of b[1]!.split("\n"))
      for (const part of line.replace(/\s{2,}#.*$/, "").split(/;|\|(?! stop)|\$\(|<\(/))
        for (const m of part.matchAll(/^\s*(?:sudo )?sbx ([^)]+)/g)) found.push(m[1]!);
  return found;
}

function find(cmd: Command, word: string): Command | undefined {
  return cmd.commands.find((c) => c.name() === word || c.aliases().includes(word));
}

function hasOption(cmd: Command, flag: string): boolean {
  const name = flag.split("=")[0]!;
  for (let c: Command | null = cmd; c; c = c.parent)
    if (c.options.some((o) => o.long === name || o.short === name || (o.negate && o.long === name))) return true;
  return name === "--help" || name === "-h";
}

/** What is wrong with `sbx <rest>`, or undefined. */
function check(program: Command, rest: string): string | undefined {
  // Up to a nested command substitution; combined short flags (-it) one by one.
  const words = rest
    .split("$(")[0]!
    .trim()
    .split(/\s+/)
    .flatMap((w) => (/^-[a-zA-Z]{2,}$/.test(w) ? [...w.slice(1)].map((c) => `-${c}`) : [w]));
  let cmd = program;
  let i = 0;
  for (; i < words.length; i++) {
    const w = words[i]!;
    if (w.startsWith("-") || w === "--") break;
    const sub = find(cmd, w);
    if (!sub) break;
    cmd = sub;
  }
  if (cmd === program) return `no command ${JSON.stringify(words[0])}`;
  const next = words[i];
  // A group (`sbx image`) followed by a word that is none of its commands.
  if (
    cmd.commands.length &&
    next &&
    /^[a-z][a-z-]*$/.test(next) &&
    !(cmd as unknown as { _actionHandler: unknown })._actionHandler
  )
    return `${cmd.name()} has no command ${JSON.stringify(next)}`;
  for (const w of words.slice(i)) {
    if (w === "--") break;
    if (/^--?[a-zA-Z]/.test(w) && !hasOption(cmd, w.replace(/[^\w=-].*$/, "")))
      return `${cmd.name()} has no option ${w}`;
  }
  return undefined;
}

describe("commands named in hints, errors, help and docs", () => {
  it("all exist, with their flags", async () => {
    const program = await buildProgram();
    const problems: string[] = [];
    const sources = [...files(join(REPO, "packages")), ...files(join(REPO, "docs")), join(REPO, "README.md")];
    let seen = 0;
    for (const f of sources) {
      for (const m of mentions(readFileSync(f, "utf8"))) {
        // `sbx cp: ...` (a message prefix), `sbx ${VERSION}`, `sbx <command>`: not a command line.
        if (!/^[a-z][a-z-]*(\s|$)/.test(m)) continue;
        seen++;
        const problem = check(program, m);
        if (problem) problems.push(`${relative(REPO, f)}: \`sbx ${m.trim()}\`: ${problem}`);
      }
    }
    expect(seen).toBeGreaterThan(50);
    expect(problems).toEqual([]);
  });

  it("catches a command that does not exist", async () => {
    const program = await buildProgram();
    expect(check(program, "project token create")).toMatch(/no command "token"/);
    expect(check(program, "nope")).toMatch(/no command/);
    expect(check(program, "ls --nope")).toMatch(/no option --nope/);
    expect(check(program, "token create --project ml")).toBeUndefined();
  });
});
