// How the CLI talks to people and scripts: objects on stdout (table, --json, or ids with -q),
// progress on stderr, errors as `error: <message>` plus a hint, and the exit codes that go with them.
import pc from "picocolors";
import { SbxError } from "@sbx-sh/protocol";

/** Thrown by a command to end with a specific exit code (the message, if any, was already printed). */
export class CliExit extends Error {
  readonly exitCode: number;
  constructor(exitCode: number) {
    super(`exit ${exitCode}`);
    this.exitCode = exitCode;
  }
}

/** Marks an error as sbx's own failure inside a command whose exit code is otherwise the user's (exec, run). */
export class CliFailure extends Error {
  readonly exitCode: number;
  readonly original: unknown;
  constructor(original: unknown, exitCode: number) {
    super(original instanceof Error ? original.message : String(original));
    this.original = original;
    this.exitCode = exitCode;
  }
}

/** What exec, run and shell exit with when sbx itself failed: below 125 the codes are the user's command's. */
export const EXIT_SBX_FAILED = 125;

/** An error of sbx's own in a command whose exit code is otherwise the user's, as such a failure. */
export function asSbxFailure(err: unknown): unknown {
  return err instanceof CliExit || err instanceof CliFailure ? err : new CliFailure(err, EXIT_SBX_FAILED);
}

/** Aborted when whoever reads our stdout goes away (EPIPE), so streaming commands can clean up. */
export const stdoutGone = new AbortController();

let idsOnly = false;

/** From now on printJson prints the objects' ids, one a line (the generic -q). */
export function printIdsOnly(): void {
  idsOnly = true;
}

/** The id a person or script names an object by: an image's ref, a port's URL, else its id or name. */
export function idOf(value: unknown): string {
  if (typeof value !== "object" || value === null) return String(value);
  const o = value as Record<string, unknown>;
  if (typeof o.kind === "string" && typeof o.name === "string" && typeof o.tag === "string")
    return o.kind === "base" ? o.name : `${o.name}:${o.tag}`;
  if (typeof o.url === "string" && typeof o.port === "number") return o.url;
  if (typeof o.image === "object" && o.image !== null) return idOf(o.image);
  if (typeof o.id === "string") return o.id;
  if (typeof o.name === "string") return o.name;
  if (typeof o.digest === "string") return o.digest;
  return JSON.stringify(value);
}

export function printJson(value: unknown): void {
  if (idsOnly) return printLines((Array.isArray(value) ? value : [value]).map(idOf));
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function printLines(lines: string[]): void {
  if (lines.length) process.stdout.write(`${lines.join("\n")}\n`);
}

/** Progress and notices: stderr, so stdout stays parseable. */
export function progress(message: string): void {
  process.stderr.write(`${message}\n`);
}

/** Aligned columns with a header; the header is dimmed on a terminal only. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join("   ")
      .trimEnd();
  const head = line(header);
  return [process.stdout.isTTY ? pc.bold(head) : head, ...rows.map(line)].join("\n");
}

/** "12s ago", "5m ago", "3h ago", "2d ago". */
export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "-";
  const secs = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (Number.isNaN(secs)) return iso;
  if (secs < 60) return `${secs}s ago`;
  if (secs < 3600) return `${Math.floor(secs / 60)}m ago`;
  if (secs < 86400) return `${Math.floor(secs / 3600)}h ago`;
  return `${Math.floor(secs / 86400)}d ago`;
}

export function formatMemory(mb: number): string {
  return mb >= 1024 && mb % 1024 === 0 ? `${mb / 1024}G` : `${mb}M`;
}

const HINTS: Partial<Record<string, string>> = {
  daemon_unavailable: "check it with `sbx daemon status`, or point --host / SBX_HOST at a running sbxd",
  permission_denied: "the local sbxd socket is root-only: run sbx with sudo",
  unauthenticated:
    "on the daemon host, `sudo sbx token create --project NAME` makes one; keep it with `sbx context add NAME --host URL --token TOKEN`",
  sandbox_not_found: "list sandboxes with `sbx ls` (`sbx ls -a` includes terminated ones)",
  sandbox_not_running: "the sandbox has stopped; `sbx info <id>` says why",
  process_not_found: "the process id comes from `sbx exec` or the SDK's startProcess",
  file_not_found: "check the path; `sbx exec <id> -- ls -la <dir>` shows what is there",
  payload_too_large: "copy the tree in smaller parts",
  base_image_unavailable: "the base image could not be fetched: check the daemon host's network, then retry",
  node_unavailable: "the cluster node that runs it is down: `sbx node ls` shows it; its sandboxes return with it",
  internal: "this is a bug or a host problem; rerun with --debug and check the sbxd log",
};

/**
 * The one hint an error gets: none when its message already names the command to run (a second,
 * generic one could only repeat or contradict it), nor for a permission error that is not about
 * the socket (a TCP token's scope, a config file's mode).
 */
export function hintFor(err: SbxError): string | undefined {
  if (/`(sudo )?sbx [^`]+`/.test(err.message)) return undefined;
  if (err.code === "permission_denied" && !/cannot open the sbxd socket/.test(err.message)) return undefined;
  return HINTS[err.code];
}

/** `error: ...` and a hint line on stderr; with debug, also the stack and details. */
export function printError(err: unknown, debug = false): void {
  const e = err instanceof CliFailure ? err.original : err;
  const sbx = e instanceof SbxError ? e : undefined;
  const message = e instanceof Error ? e.message : String(e);
  const tty = process.stderr.isTTY;
  process.stderr.write(`${tty ? pc.red("error:") : "error:"} ${message}\n`);
  const hint = sbx ? hintFor(sbx) : undefined;
  if (hint) process.stderr.write(`${tty ? pc.dim("hint:") : "hint:"} ${hint}\n`);
  if (debug) {
    if (sbx)
      process.stderr.write(`code: ${sbx.code}${sbx.details ? ` details: ${JSON.stringify(sbx.details)}` : ""}\n`);
    if (e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
  }
}

/** The mark of a doctor check, coloured on a terminal: ✓ fine, ! optional and missing, ✗ failed. */
export function mark(ok: boolean, warning = false): string {
  const sym = !ok ? "✗" : warning ? "!" : "✓";
  if (!process.stdout.isTTY) return sym;
  return !ok ? pc.red(sym) : warning ? pc.yellow(sym) : pc.green(sym);
}
