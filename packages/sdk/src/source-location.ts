// Where in the user's code an image step was declared: the first stack frame outside sbx's own
// modules, as file:line:column, so build errors can point at the line that wrote the step.
import { readFileSync } from "node:fs";
import { isAbsolute, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

export interface SourceLocation {
  file: string;
  line: number;
  column?: number;
}

/** Files whose frames are sbx itself and never the user's line; each SDK module that declares steps registers here. */
const internalFiles = new Set<string>();

export function registerInternalModule(moduleUrl: string): void {
  internalFiles.add(toPath(moduleUrl));
}
registerInternalModule(import.meta.url);

const FRAME = /^\s*at (?:.*? \()?(.+?):(\d+):(\d+)\)?$/;

/**
 * The caller's location: the first frame that is not an sbx module (nor node's own).
 * `token` is what that line should show at the column (`new`, or a method name): loaders that
 * transpile (jiti) keep lines but shift columns, so the column is re-found in the source text.
 */
export function captureSource(token?: string): SourceLocation | undefined {
  const limit = Error.stackTraceLimit;
  // Deep user code (helpers, frameworks) must not push the user's frame out of the trace.
  Error.stackTraceLimit = 50;
  const stack = new Error().stack ?? "";
  Error.stackTraceLimit = limit;
  for (const raw of stack.split("\n").slice(1)) {
    const m = FRAME.exec(raw);
    if (!m) continue;
    const file = toPath(m[1]!);
    if (!isAbsolute(file) || internalFiles.has(file)) continue;
    const line = Number(m[2]);
    const column = token ? fixColumn(file, line, Number(m[3]), token) : Number(m[3]);
    return column === undefined ? { file, line } : { file, line, column };
  }
  return undefined;
}

/** `image.ts:12:3`, the file relative to `base` when it lies below it. */
export function formatSource(source: SourceLocation | null | undefined, base = process.cwd()): string {
  if (!source) return "";
  return `${displayPath(source.file, base)}:${source.line}${source.column ? `:${source.column}` : ""}`;
}

export function displayPath(file: string, base = process.cwd()): string {
  if (!isAbsolute(file)) return file;
  const rel = relative(base, file);
  return rel && !rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel) ? rel : file;
}

function toPath(file: string): string {
  if (!file.startsWith("file://")) return file;
  try {
    return fileURLToPath(file);
  } catch {
    return file;
  }
}

const sourceLines = new Map<string, string[] | null>();

function fixColumn(file: string, line: number, column: number, token: string): number | undefined {
  let lines = sourceLines.get(file);
  if (lines === undefined) {
    try {
      lines = readFileSync(file, "utf8").split("\n");
    } catch {
      lines = null;
    }
    sourceLines.set(file, lines);
  }
  const text = lines?.[line - 1];
  if (text === undefined) return column;
  // V8 puts a call's column on `new`, or on the method name after the dot.
  const word = token === "new" ? /(?:^|[^\w$.])(new)\s/g : new RegExp(`\\.\\s*(${escapeRegExp(token)})\\s*\\(`, "g");
  const starts: number[] = [];
  for (let m = word.exec(text); m; m = word.exec(text)) starts.push(m.index + m[0].indexOf(m[1]!) + 1);
  if (starts.includes(column)) return column;
  // One candidate on the line is unambiguous; with several, a wrong column is worse than none.
  return starts.length === 1 ? starts[0] : undefined;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
