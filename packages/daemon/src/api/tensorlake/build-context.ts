// The files of a Tensorlake build's COPY/ADD steps, taken from the build context the SDK uploaded
// and unpacked in its builder sandbox, into sbx's context store in the layout a build expects
// (one tar per step, `<i>/<name>` for its i-th source). Everything about the context is hostile
// input, so nothing of it is resolved on the host: a script in the builder sandbox resolves each
// source (globs included) inside the context, refuses what leads outside it (a symlink to /etc),
// and stages copies; the daemon archives that folder from the sandbox and streams it to disk
// through the tar check, capped at the upload limit, hashing as it goes.
import { Transform, type Readable } from "node:stream";
import { SbxError, type CopySource } from "@sbx-sh/protocol";
import { MAX_UPLOAD_BYTES } from "../../services/file-service.js";
import { TarCheck } from "../../services/tar-check.js";
import type { Services } from "../../services/services.js";

/** Where the SDK unpacks the context in its builder sandbox (its Rust core's REMOTE_CONTEXT_DIR). */
export const TL_CONTEXT_DIR = "/var/lib/tensorlake/rootfs-builder/build/context";
const STAGING_DIR = "/var/lib/tensorlake/rootfs-builder/sbx-context";
const MISSING = 3;
const ESCAPES = 4;
const NO_CONTEXT = 5;

// Arguments: context dir, staging dir, then the step's sources (normalized, context-relative).
// Prints `name<TAB>file|dir` per match. Patterns are globbed unquoted with IFS a newline, so a
// name with spaces is not split; a match is followed through symlinks and must stay in the context.
export const STAGE_SCRIPT = `IFS='
'
root=$(readlink -f -- "$1") && [ -d "$root" ] || { printf 'no build context was uploaded\\n' >&2; exit ${NO_CONTEXT}; }
out=$2; shift 2
rm -rf -- "$out" && mkdir -p -- "$out" || exit 1
i=0
for p in "$@"; do
  found=0
  for m in $root/$p; do
    [ -e "$m" ] || continue
    r=$(readlink -f -- "$m") || continue
    case "$r" in "$root"|"$root"/*) ;; *) printf '%s\\n' "$p" >&2; exit ${ESCAPES};; esac
    name=\${m##*/}; [ "$r" = "$root" ] && name=context
    t=file; [ -d "$r" ] && t=dir
    mkdir -p -- "$out/$i" && cp -a -- "$r" "$out/$i/$name" || exit 1
    printf '%s\\t%s\\n' "$name" "$t"
    i=$((i + 1)); found=1
  done
  [ $found = 1 ] || { printf '%s\\n' "$p" >&2; exit ${MISSING}; }
done
`;

const ARCHIVE_SUFFIXES = [".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz"];

/** The script's answer as copy sources; ADD unpacks local archives, as Docker does. */
export function parseStaged(stdout: string, op: "copy" | "add"): CopySource[] {
  return stdout
    .split("\n")
    .filter((l) => l !== "")
    .map((line) => {
      const tab = line.lastIndexOf("\t");
      const name = line.slice(0, tab);
      const type = line.slice(tab + 1);
      if (tab <= 0 || (type !== "file" && type !== "dir") || name.includes("/") || name === "." || name === "..")
        throw new SbxError("runtime_error", `staging the build context answered an unexpected line: ${line}`);
      const extract = op === "add" && type === "file" && ARCHIVE_SUFFIXES.some((s) => name.toLowerCase().endsWith(s));
      return extract ? { name, type, extract: true } : { name, type };
    });
}

/** Runs the staging script as root in the builder sandbox; its exit code says what went wrong. */
async function stage(
  s: Services,
  project: string,
  sandbox: string,
  dir: string,
  sources: string[],
  where: string,
): Promise<string> {
  const p = await s.processes.start(project, sandbox, {
    command: "/bin/sh",
    args: ["-c", STAGE_SCRIPT, "sbx-stage", TL_CONTEXT_DIR, dir, ...sources],
    user: "root",
  });
  // Output chunks are base64; what a sandbox prints is kept only up to a bound.
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let size = 0;
  let code: number | null = null;
  for await (const e of s.processes.output(project, sandbox, p.id, true)) {
    if (e.type === "exit") code = e.exitCode;
    else if ((size += e.data.length) < 4 << 20) (e.type === "stdout" ? out : err).push(Buffer.from(e.data, "base64"));
  }
  const stdout = Buffer.concat(out).toString("utf8");
  const stderr = Buffer.concat(err).toString("utf8").slice(0, 4096);
  const what = stderr.trim().split("\n")[0] ?? "";
  if (code === MISSING)
    throw new SbxError("invalid_argument", `${where}: ${what}: no such file or directory in the build context`);
  if (code === ESCAPES)
    throw new SbxError(
      "invalid_argument",
      `${where}: ${what} leads outside the build context through a symbolic link: copy the file itself into contextDir`,
    );
  if (code === NO_CONTEXT) throw new SbxError("failed_precondition", `${where}: no build context was uploaded`);
  if (code !== 0) throw new SbxError("runtime_error", `${where}: staging the build context failed: ${what}`);
  return stdout;
}

/** Caps a stream at `max` bytes: what is over fails it with payload_too_large. */
function capped(max: number, where: string): Transform {
  let size = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      size += chunk.length;
      if (size > max)
        done(
          new SbxError(
            "payload_too_large",
            `${where}: the files of one COPY/ADD are limited to ${max / 1024 ** 2} MiB: copy less, or fetch it in a RUN step`,
          ),
        );
      else done(null, chunk);
    },
  });
}

/**
 * The context of one COPY/ADD step: staged in the builder sandbox, archived from there into the
 * context store. Answers the digest and sources for the build IR step.
 */
export async function contextOfStep(
  s: Services,
  project: string,
  sandbox: string,
  step: { op: "copy" | "add"; src: string[] },
  key: string,
  where: string,
  max = MAX_UPLOAD_BYTES,
): Promise<{ context: string; sources: CopySource[] }> {
  const dir = `${STAGING_DIR}/${key}`;
  const sources = parseStaged(await stage(s, project, sandbox, dir, step.src, where), step.op);
  // `<dir>/.` archives as `./<i>/<name>`: unpacked at the build's context folder, as an upload would be.
  const archive: Readable = await s.files.download(project, sandbox, `${dir}/.`);
  const limit = capped(max, where);
  const check = new TarCheck();
  archive.on("error", (err) => limit.destroy(err));
  limit.on("error", (err) => check.destroy(err));
  archive.pipe(limit).pipe(check);
  const stored = await s.contexts.put(project, check);
  return { context: stored.digest, sources };
}
