// Splits a Dockerfile into instructions the way BuildKit's parser does: parser directives, comments,
// line continuations (the escape character at a line's end), and heredoc bodies after RUN/COPY/ADD.
// Written here, not taken from dockerfile-ast, because heredoc bodies must stay verbatim.
import { SbxError } from "../errors.js";
import { processWord, splitWords, WordError } from "./expand.js";

export interface Heredoc {
  /** The delimiter, quotes removed. */
  name: string;
  /** `<<-`: leading tabs are stripped from the body (see chompHeredoc) and the delimiter line. */
  chomp: boolean;
  /** The body as written, each line with its newline. */
  content: string;
}

export interface Instruction {
  /** Lowercase: `run`, `copy`, ... */
  keyword: string;
  /** The keyword as written, for messages. */
  written: string;
  /** Everything after the keyword, continuations joined, comment lines inside them dropped. */
  rest: string;
  /** 1-based line of the keyword. */
  line: number;
  heredocs: Heredoc[];
}

export interface ScannedDockerfile {
  escape: string;
  instructions: Instruction[];
  /** Lines with a note for the user (empty continuation lines). */
  notes: Array<{ line: number; message: string }>;
}

const DIRECTIVE = /^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/;
const HEREDOC = /^(\d*)<<(-?)([^<]*)$/;
const HEREDOC_KEYWORDS = new Set(["run", "copy", "add"]);

export function dockerfileError(file: string, line: number, message: string): SbxError {
  return new SbxError("invalid_argument", `${file}:${line}: ${message}`, { file, line });
}

export function scanDockerfile(text: string, file: string): ScannedDockerfile {
  const lines = text.replace(/^\uFEFF/, "").split("\n");
  const raw = (i: number) => lines[i]!.replace(/\r$/, "");
  let escape = "\\";
  let i = 0;
  // Directives come first; the first line that is not one ends them (BuildKit ignores later ones).
  const seen = new Set<string>();
  for (; i < lines.length; i++) {
    const m = DIRECTIVE.exec(raw(i));
    if (!m) break;
    const name = m[1]!.toLowerCase();
    if (seen.has(name) && name === "escape")
      throw dockerfileError(file, i + 1, "only one escape parser directive can be used");
    seen.add(name);
    if (name === "escape") {
      if (m[2] !== "\\" && m[2] !== "`")
        throw dockerfileError(file, i + 1, `invalid escape token ${JSON.stringify(m[2])}: it must be \\ or \``);
      escape = m[2];
    }
    // `syntax` and `check` select BuildKit front ends and lint checks: nothing to do here.
  }
  const continuation = new RegExp(`${escape === "\\" ? "\\\\" : "`"}[ \\t]*$`);
  const isComment = (s: string) => s.trimStart().startsWith("#");
  const out: Instruction[] = [];
  const notes: ScannedDockerfile["notes"] = [];

  for (; i < lines.length; i++) {
    const first = raw(i).trimStart();
    if (!first || isComment(first)) continue;
    const start = i + 1;
    let line = first;
    let more = continuation.test(line);
    if (more) line = line.replace(continuation, "");
    let emptyContinuation = false;
    while (more && i + 1 < lines.length) {
      const next = raw(++i);
      if (isComment(next)) continue;
      if (!next.trim()) {
        emptyContinuation = true;
        continue;
      }
      more = continuation.test(next);
      line += more ? next.replace(continuation, "") : next;
    }
    if (emptyContinuation)
      notes.push({
        line: start,
        message: "empty continuation line (BuildKit warns about these; a future Docker may reject them)",
      });
    const trimmed = line.trim();
    const m = /^(\S+)(?:\s+([\s\S]*))?$/.exec(trimmed);
    if (!m) continue;
    const keyword = m[1]!.toLowerCase();
    const instruction: Instruction = { keyword, written: m[1]!, rest: m[2] ?? "", line: start, heredocs: [] };
    if (HEREDOC_KEYWORDS.has(keyword) && trimmed.includes("<<")) {
      for (const doc of heredocMarkers(trimmed, escape, file, start)) {
        let content = "";
        let done = false;
        while (++i < lines.length) {
          const body = raw(i);
          if ((doc.chomp ? body.replace(/^\t+/, "") : body) === doc.name) {
            done = true;
            break;
          }
          content += `${body}\n`;
        }
        if (!done)
          throw dockerfileError(
            file,
            start,
            `unterminated heredoc: no line ${doc.name} closes <<${doc.chomp ? "-" : ""}${doc.name}`,
          );
        instruction.heredocs.push({ ...doc, content });
      }
    }
    out.push(instruction);
  }
  return { escape, instructions: out, notes };
}

/** A `<<-` body without the leading tabs of its lines. */
export function chompHeredoc(content: string): string {
  return content.replace(/^\t+/gm, "");
}

/** The heredocs a line opens, in order: words such as `<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF`. */
function heredocMarkers(line: string, escape: string, file: string, lineNo: number): Array<Omit<Heredoc, "content">> {
  const docs: Array<Omit<Heredoc, "content">> = [];
  for (const word of splitWords(line, escape)) {
    const m = HEREDOC.exec(word);
    if (!m || !m[3]) continue;
    let name: string;
    try {
      name = processWord(m[3], () => undefined, { escape, keepUnset: true });
    } catch (err) {
      if (err instanceof WordError) throw dockerfileError(file, lineNo, `heredoc ${word}: ${err.message}`);
      throw err;
    }
    // `<<EOF>file` style words hold more than a delimiter; as in BuildKit, only plain words count.
    if (!name || /\s/.test(name)) continue;
    docs.push({ name, chomp: m[2] === "-" });
  }
  return docs;
}
