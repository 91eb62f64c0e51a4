// Argument forms of Dockerfile instructions, as BuildKit reads them: leading `--flags`, the JSON
// (exec) form, RUN's heredoc forms, and how a shell-form command, the shell and ARG values combine
// into the step IR's command.
import { posix } from "node:path";
import type { SbxError } from "../errors.js";
import type { DockerfileSource, DockerfileStep } from "./types.js";
import { splitWords } from "./expand.js";
import { chompHeredoc, type Heredoc, type Instruction } from "./scan.js";

export const DEFAULT_SHELL = ["/bin/sh", "-c"];
export const USER_RE = /^(\d+|[a-z_][a-z0-9_-]*)(:(\d+|[a-z_][a-z0-9_-]*))?$/;
type Fail = (message: string) => SbxError;

/** Leading `--name[=value]` words (quotes removed) and the rest of the line (BuildKit's extractBuilderFlags). */
export function extractFlags(line: string): {
  flags: Array<{ name: string; value: string | undefined }>;
  rest: string;
} {
  const words: string[] = [];
  let pos = 0;
  for (;;) {
    while (pos < line.length && /\s/.test(line[pos]!)) pos++;
    if (!line.startsWith("--", pos)) break;
    let word = "";
    let quote = "";
    for (; pos < line.length; pos++) {
      const ch = line[pos]!;
      if (!quote && /\s/.test(ch)) break;
      if (!quote && (ch === "'" || ch === '"')) quote = ch;
      else if (quote && ch === quote) quote = "";
      else if (ch === "\\" && pos + 1 < line.length) word += line[++pos];
      else if (ch !== "\\") word += ch;
    }
    // A lone `--` ends the flags.
    if (word === "--") break;
    words.push(word);
  }
  const flags = words.map((w) => {
    const eq = w.indexOf("=");
    return eq === -1 ? { name: w.slice(2), value: undefined } : { name: w.slice(2, eq), value: w.slice(eq + 1) };
  });
  return { flags, rest: line.slice(pos).trim() };
}

/** The exec form: a JSON array of strings; anything else (`[ -f x ] && ...` too) is the shell form. */
export function jsonArray(text: string): string[] | undefined {
  if (!text.startsWith("[")) return undefined;
  try {
    const v: unknown = JSON.parse(text);
    return Array.isArray(v) && v.every((a) => typeof a === "string") ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The shell script a RUN with heredocs runs, as BuildKit makes it: `RUN <<EOF` alone runs the
 * body (a body starting with `#!` is written to a file and executed); otherwise the line and the
 * bodies go to the shell together, which handles the heredocs itself.
 */
export function heredocScript(line: string, docs: Heredoc[]): string {
  const m = /^\d*<<-?(.+)$/s.exec(line);
  if (docs.length === 1 && m && splitWords(m[1]!).length === 1) {
    const body = docs[0]!.chomp ? chompHeredoc(docs[0]!.content) : docs[0]!.content;
    return body.startsWith("#!") ? shebangScript(body) : body;
  }
  return line + docs.map((d) => `\n${d.content}${d.name}`).join("");
}

/** Runs a script with its own interpreter (`#!/usr/bin/env python3`) through the shell. */
function shebangScript(body: string): string {
  let delim = "SBX_SCRIPT";
  while (body.split("\n").includes(delim)) delim += "_";
  return `f=$(mktemp) && cat > "$f" <<'${delim}'\n${body}${delim}\nchmod +x "$f" && "$f"; s=$?; rm -f "$f"; exit $s`;
}

/**
 * A RUN's command for the IR. ARG values are in the environment of RUN commands in Docker; the IR
 * has no build-only environment yet, so they are exported at the start of the command (Docker's
 * own history shows them the same way, `|1 VERSION=2 /bin/sh -c ...`). A non-default SHELL makes
 * the shell form an array.
 */
export function runCommand(
  command: string | string[],
  shell: string[],
  args: Array<[string, string]>,
): string | string[] {
  if (Array.isArray(command))
    return args.length ? ["/usr/bin/env", ...args.map(([k, v]) => `${k}=${v}`), ...command] : command;
  const script = args.length
    ? `export ${args.map(([k, v]) => `${k}=${shellQuote(v)}`).join(" ")}; ${command}`
    : command;
  return isDefaultShell(shell) ? script : [...shell, script];
}

/** CMD/ENTRYPOINT: the exec form as is, the shell form through the shell. */
export function shellArgs(body: string, shell: string[]): string[] {
  return jsonArray(body) ?? [...shell, body];
}

export function isDefaultShell(shell: string[]): boolean {
  return shell.length === 2 && shell[0] === DEFAULT_SHELL[0] && shell[1] === DEFAULT_SHELL[1];
}

function shellQuote(v: string): string {
  return /^[A-Za-z0-9_.,:/@%+=-]+$/.test(v) ? v : `'${v.replace(/'/g, `'\\''`)}'`;
}

/** COPY/ADD: sources (JSON or whitespace-separated, each substituted) that stay in the context, a destination, flags. */
export function copyStep(
  ins: Instruction,
  rest: string,
  flags: Map<string, string | undefined>,
  expand: (word: string) => string,
  fail: Fail,
  stageIndex: number,
  source: DockerfileSource,
): DockerfileStep {
  const kw = ins.keyword.toUpperCase();
  if (ins.heredocs.length)
    throw fail("<<EOF (a file written in the Dockerfile) is not supported yet: put the file in the build context");
  const json = jsonArray(rest);
  const words = (json ?? rest.split(/\s+/).filter(Boolean)).map((w) => {
    try {
      return expand(w);
    } catch (err) {
      // The shell form splits at every space, quotes or not, as Docker's does.
      if (!json && /quote/.test(String(err)))
        throw fail(
          `${(err as Error).message.replace(/^.*?: [A-Z]+: /, "")} (for paths with spaces use the JSON form: ${kw} ["my file", "/dest/"])`,
        );
      throw err;
    }
  });
  if (words.length < 2) throw fail(`give sources and a destination: ${kw} <src>... <dest>`);
  const src = words.slice(0, -1);
  const dest = words.at(-1)!;
  const from = flags.has("from") ? expand(flags.get("from") ?? "") : undefined;
  if (from !== undefined && (!from || (/^\d+$/.test(from) && Number(from) >= stageIndex)))
    throw fail(`--from=${from}: no such stage before this one`);
  // With --from, sources are paths in that stage or image, not in the context.
  for (const s of from === undefined ? src : []) {
    if (!s) throw fail("a source is empty once substituted");
    if (/^git@|\.git(#.*)?$/.test(s) && ins.keyword === "add")
      throw fail(`${s}: adding a git repository is not supported yet: RUN git clone it`);
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) {
      if (ins.keyword === "copy") throw fail(`cannot download ${s}: use ADD`);
      if (!/^https?:\/\//i.test(s)) throw fail(`only http and https URLs can be downloaded, not ${s}`);
      continue;
    }
    if (s.startsWith("/"))
      throw fail(
        `${s}: sources are paths in the build context; write it without the leading / (Docker reads it from the context's root)`,
      );
    const norm = posix.normalize(s);
    if (norm === ".." || norm.startsWith("../")) throw fail(`${s} is outside the build context`);
  }
  if (!dest) throw fail("the destination is empty once substituted");
  const chown = flags.has("chown") ? expand(flags.get("chown") ?? "") : undefined;
  if (chown !== undefined && !USER_RE.test(chown))
    throw fail(`invalid --chown=${chown}: use user[:group], by name or id`);
  let chmod = flags.has("chmod") ? expand(flags.get("chmod") ?? "") : undefined;
  if (chmod !== undefined && !/^[0-7]{3,4}$/.test(chmod))
    throw fail(`invalid --chmod=${chmod}: use an octal mode such as 0755`);
  // Four digits, as copy(..., { chmod: 0o755 }) writes it, so both make the same step (and cache key).
  if (chmod !== undefined) chmod = chmod.padStart(4, "0");
  return {
    op: ins.keyword as "copy" | "add",
    src,
    dest,
    ...(chown !== undefined && { chown }),
    ...(chmod !== undefined && { chmod }),
    ...(from !== undefined && { from }),
    source,
  };
}

/** `RUN --mount=type=cache` only speeds Docker builds up, so it is dropped; other mounts change what RUN sees. */
export function checkMount(mount: string, fail: Fail, warn: (m: string) => void): void {
  const opts = new Map(mount.split(",").map((kv) => [kv.split("=")[0]!, kv.slice(kv.indexOf("=") + 1)]));
  if (opts.get("type") === "cache" && !opts.has("from"))
    warn("RUN --mount=type=cache is ignored: the command runs without a cache mount");
  else throw fail(`--mount=${mount} is not supported yet (only type=cache is accepted, and ignored)`);
}

/** Levenshtein distance, for "did you mean FROM?". */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}
