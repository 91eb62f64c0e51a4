// File operations on a running sandbox, done *inside* it by the read-only static busybox under
// /.sbx: the sandbox's own kernel view resolves every path, so a symlink to /etc/shadow or a
// `../..` in a path or a tar entry can only ever reach the sandbox's own files, never the host's.
import { spawn } from "node:child_process";
import type { Readable } from "node:stream";
import { SbxError } from "@sbx-sh/protocol";
import type { CommandResult } from "../common/command.js";
import type { Crun } from "./crun.js";
import { fileErrors, MAX_READ_BYTES, saysNoSpace } from "./file-errors.js";
import { type DirectoryPage, type PageRequest } from "./directory-page.js";
import { parseListPage } from "./list-page.js";
import { isTextName, nameToBytes } from "./byte-names.js";
import { assertSandboxPath } from "./sandbox-path.js";
import { spool } from "./spool.js";
import { HELPER_BUSYBOX } from "./types.js";

const BB = HELPER_BUSYBOX;

const ROOT_EXEC = { env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], cwd: "/", user: "0:0" };

// Exit codes our scripts use to report the usual failures precisely.
const NOT_A_DIRECTORY = 20;
const NOT_FOUND = 21;
const IS_A_DIRECTORY = 22;
const TOO_LARGE = 23;
const NOT_REGULAR = 24;
const LOOP = 25;

// $1 directory, $2 list names after this one ("" = from the first), $3 page size. Prints the page's
// names, one "./name" line each, "@more" when names come after it, "@stat", then a stat line per
// name. busybox awk cannot read NUL-separated names, so find's NUL-ended names go through it with
// each newline turned into "/", the one byte no name holds: every name is one line, none is lost,
// and the page is cut in that order (a newline sorts as "/"). The cursor goes through the
// environment, not `awk -v`, which would interpret its backslashes.
const LIST_PAGE = [
  // A missing path is not found, unless resolving it loops; cd -P resolves `..` after links, as the kernel does.
  `[ -e "$1" ] || { stat -L -- "$1" 2>&1 | grep -qiE 'link loop|too many levels' && exit ${LOOP}; exit ${NOT_FOUND}; }`,
  `[ -d "$1" ] || exit ${NOT_A_DIRECTORY}; cd -P -- "$1" || exit 1`,
  `names=$(find . -mindepth 1 -maxdepth 1 -print0 | tr '\\n\\0' '/\\n' | sort | C="$2" L="$3" awk 'BEGIN { c = ENVIRON["C"]; gsub(/\\n/, "/", c); c = "./" c; l = ENVIRON["L"] + 0 } ENVIRON["C"] == "" || $0 "" > c "" { print; if (++n > l) exit }')`,
  `[ -n "$names" ] || exit 0`,
  `printf '%s\\n' "$names" | head -n "$3"`,
  `[ "$(printf '%s\\n' "$names" | wc -l)" -gt "$3" ] && echo @more; echo @stat`,
  `printf '%s\\n' "$names" | head -n "$3" | cut -c3- | tr '/\\n' '\\n\\0' | xargs -0 stat -c '%f %s %Y %n' -- 2>/dev/null`,
  `exit 0`,
].join("\n");

/** The bytes of `arg` as a printf format that prints exactly them: every byte as \ooo. */
function octalFormat(arg: string): string {
  return [...nameToBytes(arg)].map((b) => `\\${b.toString(8).padStart(3, "0")}`).join("");
}

/** Sets $1..$n to the bytes their formats print ($(...) drops trailing newlines: the x keeps them). */
function decodeArgs(n: number): string {
  const vars = Array.from({ length: n }, (_, i) => i + 1);
  const read = vars.map((i) => `_${i}=$(printf "$${i}"; printf x)`).join("; ");
  return `${read}; set -- ${vars.map((i) => `"\${_${i}%x}"`).join(" ")}`;
}

export class SandboxFiles {
  constructor(
    private readonly crun: Crun,
    /** Where a sandbox's uploads wait on the host until they have fully arrived. */
    private readonly spoolDir: (id: string) => string,
  ) {}

  private async sh(
    id: string,
    path: string,
    script: string,
    extra: string[] = [],
    input?: Readable,
  ): Promise<CommandResult> {
    // Everything these scripts print is held in memory: never more than a readFile may answer.
    const args = [path, ...extra];
    // Arguments reach busybox as text: a name that is not UTF-8 (./byte-names.ts) goes as a printf
    // format of its bytes, turned back into them before the script runs.
    const bytes = args.every(isTextName) ? undefined : args.map(octalFormat);
    const run = bytes ? `${decodeArgs(args.length)}\n${script}` : script;
    const r = await this.crun.exec(id, [BB, "sh", "-c", run, "sh", ...(bytes ?? args)], {
      ...ROOT_EXEC,
      input,
      maxStdoutBytes: MAX_READ_BYTES + 1024 * 1024,
    });
    if (r.overflow) throw fileErrors.outputTooLarge(path);
    if (r.code === NOT_FOUND) throw fileErrors.notFound(path);
    if (r.code === NOT_A_DIRECTORY) throw fileErrors.notADirectory(path);
    if (r.code === IS_A_DIRECTORY) throw fileErrors.isADirectory(path);
    if (r.code === NOT_REGULAR) throw fileErrors.notRegular(path);
    if (r.code === TOO_LARGE) throw fileErrors.tooLarge(path);
    if (r.code === LOOP) throw fileErrors.symlinkLoop(path);
    if (r.code !== 0) throw fileErrors.failed(path, r.stderr.trim() || `exit ${r.code}`);
    return r;
  }

  async read(id: string, path: string): Promise<Buffer> {
    assertSandboxPath(path);
    const r = await this.sh(
      id,
      path,
      `[ -e "$1" ] || exit ${NOT_FOUND}; [ -d "$1" ] && exit ${IS_A_DIRECTORY}; [ -f "$1" ] || exit ${NOT_REGULAR}; [ "$(stat -L -c %s -- "$1")" -gt ${MAX_READ_BYTES} ] && exit ${TOO_LARGE}; exec cat -- "$1"`,
    );
    return r.stdout;
  }

  async write(id: string, path: string, data: Readable): Promise<void> {
    assertSandboxPath(path);
    const upload = await spool(data, this.spoolDir(id));
    try {
      await this.sh(
        id,
        path,
        `[ -d "$1" ] && exit ${IS_A_DIRECTORY}; mkdir -p -- "$(dirname -- "$1")" && cat >"$1"`,
        [],
        upload.open(),
      );
    } finally {
      await upload.release();
    }
  }

  /**
   * One page of a directory. The sandbox itself sorts the names and picks the page (its CPU, its
   * cgroup), so the daemon reads at most `limit` names and stat lines however big the directory is.
   */
  async list(id: string, path: string, page: PageRequest): Promise<DirectoryPage> {
    assertSandboxPath(path);
    const r = await this.sh(id, path, LIST_PAGE, [page.after ?? "", String(page.limit)]);
    return parseListPage(r.stdout, page.limit);
  }

  async remove(id: string, path: string, recursive: boolean): Promise<void> {
    assertSandboxPath(path);
    if (path.replace(/\/+$/, "") === "") throw fileErrors.rootRefused();
    await this.sh(
      id,
      path,
      `[ -e "$1" ] || [ -L "$1" ] || exit ${NOT_FOUND}; [ -d "$1" ] && [ ! -L "$1" ] && [ "$2" != 1 ] && exit ${IS_A_DIRECTORY}; rm -rf -- "$1"`,
      [recursive ? "1" : "0"],
    );
  }

  /** Unpacks a tar or tar.gz into `dir`, creating it, once it has fully arrived; entries are owned by the sandbox's root. */
  async extractArchive(id: string, dir: string, archive: Readable): Promise<void> {
    assertSandboxPath(dir);
    const upload = await spool(archive, this.spoolDir(id));
    try {
      const gzip = upload.head.length > 2 && upload.head[0] === 0x1f && upload.head[1] === 0x8b;
      await this.sh(
        id,
        dir,
        `[ -e "$1" ] && [ ! -d "$1" ] && exit ${NOT_A_DIRECTORY}; mkdir -p -- "$1" && tar -x${gzip ? "z" : ""}o -C "$1" -f -`,
        [],
        upload.open(),
      );
    } catch (err) {
      // busybox tar says ENOSPC only in its message: the sandbox's full disk, not a failure of ours.
      if (err instanceof SbxError && err.code === "runtime_error" && saysNoSpace(err.message))
        throw fileErrors.unpackNoSpace(dir);
      throw err;
    } finally {
      await upload.release();
    }
  }

  /**
   * Streams a tar of `path` (a file or a directory tree, named by its base name). Resolves once
   * the archive has started, so a missing path is still a clean 404 rather than a broken stream.
   */
  createArchive(id: string, path: string): Promise<Readable> {
    assertSandboxPath(path);
    const script = `[ -e "$1" ] || exit ${NOT_FOUND}; cd -- "$(dirname -- "$1")" && exec tar -c -f - -- "$(basename -- "$1")"`;
    const child = spawn(this.crun.binary, this.crun.execArgv(id, [BB, "sh", "-c", script, "sh", path], ROOT_EXEC), {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString("utf8")));
    return new Promise((resolve, reject) => {
      // 'readable' also fires at the end of an empty stream: only real bytes mean the archive started.
      const onReadable = (): void => {
        if (child.stdout.readableLength > 0) {
          child.stdout.off("readable", onReadable);
          resolve(child.stdout);
        }
      };
      child.stdout.on("readable", onReadable);
      child.on("exit", (code) => {
        if (code === NOT_FOUND) reject(fileErrors.notFound(path));
        else if (code !== 0)
          reject(new SbxError("runtime_error", `archiving ${path} failed: ${stderr.trim() || `exit ${code}`}`));
        else resolve(child.stdout);
      });
      child.on("error", (e) => reject(new SbxError("runtime_error", e.message)));
    });
  }
}
