// `.sbxignore` in the build context: gitignore syntax (comments, `!` negation, `/` anchoring, a
// trailing `/` for directories only, `*`, `?`, `[...]`, `**`), applied to the paths that copy()
// and add() pack. Written here because no gitignore matcher is a dependency of sbx.
import { readFile } from "node:fs/promises";
import { join } from "node:path";

interface Rule {
  re: RegExp;
  negate: boolean;
  dirOnly: boolean;
}

export class IgnoreRules {
  private readonly rules: Rule[];

  /** `file`: where the rules were read, for messages. */
  constructor(
    text = "",
    readonly file?: string,
  ) {
    this.rules = text.split(/\r?\n/).flatMap((line) => {
      const rule = parseLine(line);
      return rule ? [rule] : [];
    });
  }

  /** Reads `<dir>/.sbxignore`; no file means no rules. */
  static async load(dir: string): Promise<IgnoreRules> {
    try {
      return new IgnoreRules(await readFile(join(dir, ".sbxignore"), "utf8"), join(dir, ".sbxignore"));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return new IgnoreRules();
      throw err;
    }
  }

  get empty(): boolean {
    return this.rules.length === 0;
  }

  /**
   * Whether `path` (relative to the context, `/`-separated) is excluded. As in git, the caller
   * does not descend into an excluded directory, so nothing below it can be re-included.
   */
  ignores(path: string, isDir: boolean): boolean {
    let ignored = false;
    for (const r of this.rules) {
      if (r.dirOnly && !isDir) continue;
      if (r.negate === ignored && r.re.test(path)) ignored = !r.negate;
    }
    return ignored;
  }

  /** Also true when a parent directory of `path` is excluded. */
  ignoresWithParents(path: string, isDir: boolean): boolean {
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) if (this.ignores(parts.slice(0, i).join("/"), true)) return true;
    return this.ignores(path, isDir);
  }
}

function parseLine(raw: string): Rule | null {
  // Trailing spaces are dropped unless escaped with a backslash.
  let line = raw.replace(/(?<!\\)\s+$/, "");
  if (!line || line.startsWith("#")) return null;
  let negate = false;
  if (line.startsWith("!")) {
    negate = true;
    line = line.slice(1);
  } else if (line.startsWith("\\!") || line.startsWith("\\#")) line = line.slice(1);
  let dirOnly = false;
  if (line.endsWith("/")) {
    dirOnly = true;
    line = line.replace(/\/+$/, "");
  }
  if (!line) return null;
  // A slash at the start or in the middle anchors the pattern at the context root; otherwise it
  // matches a name at any depth.
  const anchored = line.includes("/");
  line = line.replace(/^\/+/, "");
  const body = globToRegExp(line);
  return { re: new RegExp(anchored ? `^${body}$` : `^(?:.*/)?${body}$`), negate, dirOnly };
}

function globToRegExp(glob: string): string {
  let out = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*") {
      if (glob[i + 1] === "*") {
        const atStart = i === 0 || glob[i - 1] === "/";
        const atEnd = i + 2 === glob.length || glob[i + 2] === "/";
        if (atStart && atEnd) {
          i++;
          // `**/` is zero or more directories; a final `**` is everything below.
          if (glob[i + 1] === "/") {
            i++;
            out += "(?:.*/)?";
          } else out += ".*";
          continue;
        }
      }
      out += "[^/]*";
    } else if (c === "?") out += "[^/]";
    else if (c === "[") {
      const end = glob.indexOf("]", i + 2);
      if (end === -1) out += "\\[";
      else {
        let set = glob.slice(i + 1, end).replace(/\\/g, "\\\\");
        if (set.startsWith("!")) set = `^${set.slice(1)}`;
        out += `[${set}]`;
        i = end;
      }
    } else if (c === "\\" && i + 1 < glob.length) {
      out += escapeChar(glob[++i]!);
    } else out += escapeChar(c);
  }
  return out;
}

function escapeChar(c: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(c) ? `\\${c}` : c;
}
