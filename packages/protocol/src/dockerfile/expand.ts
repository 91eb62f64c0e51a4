// Docker's word processing of Dockerfile arguments, following the rules BuildKit applies
// (frontend/dockerfile/shell): quote removal, escapes, `$V` / `${V...}` substitution, and the
// quote-aware word split that ENV, ARG and LABEL use.

/** Answers a variable's value, or undefined when it is not set. */
export type Lookup = (name: string) => string | undefined;

/** A lexing error; the caller adds the file and line. */
export class WordError extends Error {}

export interface WordOptions {
  /** The escape character (`# escape=` directive): `\` or a backtick. */
  escape?: string;
  /** Leave references to unset variables as written (as BuildKit does for heredoc names). */
  keepUnset?: boolean;
}

/** One word with quotes removed, escapes applied and variables substituted. */
export function processWord(word: string, lookup: Lookup, o: WordOptions = {}): string {
  return new Lexer(word, lookup, o.escape ?? "\\", o.keepUnset ?? false).until(undefined);
}

const SPECIAL_PARAMS = new Set(["@", "*", "#", "?", "-", "$", "!", "0"]);
const isNameChar = (c: string) => /^[\p{L}\p{N}_]$/u.test(c);

class Lexer {
  private i = 0;
  constructor(
    private readonly s: string,
    private readonly lookup: Lookup,
    private readonly esc: string,
    private readonly keepUnset: boolean,
  ) {}

  /** Everything up to `stop` (consumed), or to the end when `stop` is undefined. */
  until(stop: string | undefined): string {
    let out = "";
    while (this.i < this.s.length) {
      const ch = this.s[this.i]!;
      if (stop !== undefined && ch === stop) {
        this.i++;
        return out;
      }
      if (ch === "'") out += this.single();
      else if (ch === '"') out += this.double();
      else if (ch === "$") out += this.dollar();
      else {
        this.i++;
        if (ch === this.esc) {
          // An escape at the very end is dropped; otherwise the next character is taken as is.
          if (this.i >= this.s.length) break;
          out += this.s[this.i++];
        } else out += ch;
      }
    }
    if (stop !== undefined) throw new WordError(`unexpected end of statement while looking for matching ${stop}`);
    return out;
  }

  private single(): string {
    // Nothing is special between single quotes, not even the escape character.
    const end = this.s.indexOf("'", this.i + 1);
    if (end === -1) throw new WordError("unexpected end of statement while looking for matching single-quote");
    const out = this.s.slice(this.i + 1, end);
    this.i = end + 1;
    return out;
  }

  private double(): string {
    let out = "";
    this.i++;
    for (;;) {
      if (this.i >= this.s.length)
        throw new WordError("unexpected end of statement while looking for matching double-quote");
      const ch = this.s[this.i]!;
      if (ch === '"') {
        this.i++;
        return out;
      }
      if (ch === "$") {
        out += this.dollar();
        continue;
      }
      this.i++;
      if (ch === this.esc) {
        const next = this.s[this.i];
        if (next === undefined) continue;
        // Only `"`, `$` and the escape itself can be escaped inside double quotes.
        if (next === '"' || next === "$" || next === this.esc) {
          out += next;
          this.i++;
          continue;
        }
      }
      out += ch;
    }
  }

  private name(): string {
    const first = this.s[this.i];
    if (first === undefined) return "";
    if (/^\d$/.test(first)) {
      const m = /^\d+/.exec(this.s.slice(this.i))![0];
      this.i += m.length;
      return m;
    }
    if (SPECIAL_PARAMS.has(first)) {
      this.i++;
      return first;
    }
    let n = "";
    while (this.i < this.s.length && isNameChar(this.s[this.i]!)) n += this.s[this.i++];
    return n;
  }

  private dollar(): string {
    this.i++;
    if (this.s[this.i] !== "{") {
      const name = this.name();
      if (!name) return "$";
      const v = this.lookup(name);
      return v === undefined && this.keepUnset ? `$${name}` : (v ?? "");
    }
    this.i++;
    const first = this.s[this.i];
    if (first === undefined) throw new WordError("syntax error: missing '}'");
    if (first === "{" || first === "}" || first === ":") throw new WordError("syntax error: bad substitution");
    const name = this.name();
    const op = this.s[this.i++];
    if (op === undefined) throw new WordError(`syntax error: missing '}' in \${${name}`);
    const value = this.lookup(name);
    if (op === "}") return value === undefined && this.keepUnset ? `\${${name}}` : (value ?? "");
    if (op === ":") {
      const mod = this.s[this.i++];
      const word = this.word(name);
      if (mod === "-") return value ? value : word;
      if (mod === "+") return value ? word : "";
      if (mod === "?") {
        if (!value)
          throw new WordError(`${name}: ${word || `is not allowed to be ${value === undefined ? "unset" : "empty"}`}`);
        return value;
      }
      throw new WordError(`unsupported modifier (${mod ?? "end of text"}) in substitution \${${name}:...}`);
    }
    if (op === "-" || op === "+" || op === "?") {
      const word = this.word(name);
      if (op === "-") return value ?? word;
      if (op === "+") return value === undefined ? "" : word;
      if (value === undefined) throw new WordError(`${name}: ${word || "is not allowed to be unset"}`);
      return value;
    }
    if (op === "#" || op === "%") {
      let pattern = this.word(name);
      const greedy = pattern.startsWith(op);
      if (greedy) pattern = pattern.slice(1);
      return trim(value ?? "", pattern, op === "#" ? "prefix" : "suffix", greedy);
    }
    throw new WordError(
      `unsupported modifier (${op}) in substitution \${${name}${op}...}: sbx substitutes :-, -, :+, +, :?, ?, #, ##, % and %%`,
    );
  }

  /** The word of `${name<op>word}`, itself substituted, up to the closing brace. */
  private word(name: string): string {
    try {
      return this.until("}");
    } catch (err) {
      if (this.i >= this.s.length) throw new WordError(`syntax error: missing '}' in \${${name}...}`);
      throw err;
    }
  }
}

/** `${v#pat}` / `${v%pat}` (and `##`, `%%`): removes the shortest (or longest) match of a glob. */
function trim(value: string, pattern: string, side: "prefix" | "suffix", greedy: boolean): string {
  const re = new RegExp(`^${globToRegExp(pattern)}$`, "s");
  const lengths = [...Array(value.length + 1).keys()];
  if (greedy) lengths.reverse();
  for (const n of lengths) {
    const part = side === "prefix" ? value.slice(0, n) : value.slice(value.length - n);
    if (re.test(part)) return side === "prefix" ? value.slice(n) : value.slice(0, value.length - n);
  }
  return value;
}

function globToRegExp(glob: string): string {
  let out = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*") out += ".*";
    else if (c === "?") out += ".";
    else if (c === "[" && glob.indexOf("]", i + 1) > i + 1) {
      const end = glob.indexOf("]", i + 1);
      const set = glob.slice(i + 1, end).replace(/\\/g, "\\\\");
      out += `[${set.startsWith("!") ? `^${set.slice(1)}` : set}]`;
      i = end;
    } else out += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  return out;
}

/**
 * Splits at whitespace outside quotes, keeping quotes and escapes in the words (BuildKit's
 * parseWords): `A=1 B="x y"` → [`A=1`, `B="x y"`]; each word is then given to processWord.
 */
export function splitWords(rest: string, escape = "\\"): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let quote = "";
  let blankOk = false;
  for (let i = 0; i < rest.length; i++) {
    let ch = rest[i]!;
    if (!inWord) {
      if (/\s/.test(ch)) continue;
      inWord = true;
    }
    if (!quote) {
      if (/\s/.test(ch)) {
        if (blankOk || word) words.push(word);
        word = "";
        inWord = false;
        blankOk = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOk = true;
      } else if (ch === escape) {
        if (i + 1 === rest.length) continue;
        word += ch;
        ch = rest[++i]!;
      }
      word += ch;
      continue;
    }
    if (ch === quote) quote = "";
    else if (ch === escape && quote !== "'") {
      if (i + 1 === rest.length) continue;
      word += ch;
      ch = rest[++i]!;
    }
    word += ch;
  }
  if (inWord && (blankOk || word)) words.push(word);
  return words;
}
