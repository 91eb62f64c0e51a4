// COPY --from: files of another image (a Dockerfile stage built before, or any image of the
// project), staged for the build sandbox's copy script. The source image runs as a short-lived
// sandbox of its own, without network, so its paths, globs and symlinks resolve in its own root;
// what matches is archived there and unpacked inside the build sandbox, never on the host.
import { posix } from "node:path";
import { pipeline, Transform, type Readable } from "node:stream";
import { SbxError, newId } from "@sbx-sh/protocol";
import { HELPER_BUSYBOX as BB, type SandboxRuntime } from "../runtime/runtime.js";
import type { CopyFromStep, CopySource } from "@sbx-sh/protocol";
import { specFor } from "../domain/sandbox-spec.js";
import { CONTEXT_DIR } from "./copy-step.js";

/** An image a build copies from, resolved when the build is created. */
export interface SourceImage {
  /** Content id: part of the step's cache key, so a changed source rebuilds the step. */
  id: string;
  lowers: string[];
  hostIds: boolean;
}

/** What one COPY --from may carry: the archive is spooled on its way into the build sandbox. */
export const MAX_COPY_FROM_BYTES = 1024 * 1024 * 1024;
const SOURCE_LIMITS = { cpus: 1, memoryMb: 512, pidsLimit: 256, diskMb: 64 };
const NO_MATCH = 3;

// One line per match: name (as given, for the destination), resolved path, file|dir. Patterns
// arrive as arguments; with IFS a newline, an unquoted pattern is globbed but not split.
const RESOLVE_SCRIPT = `IFS='
'
for p in "$@"; do
  case "$p" in /*) ;; *) p="/$p";; esac
  while [ "\${p%/}" != "$p" ] && [ "$p" != / ]; do p=\${p%/}; done
  found=0
  for m in $p; do
    [ -e "$m" ] || continue
    r=$(readlink -f -- "$m") || continue
    t=file; [ -d "$r" ] && t=dir
    printf '%s\\t%s\\t%s\\n' "\${m##*/}" "$r" "$t"
    found=1
  done
  [ $found = 1 ] || { printf '%s\\n' "$p" >&2; exit ${NO_MATCH}; }
done
`;

/**
 * Puts the step's matches under CONTEXT_DIR/<i>/<name> in the build sandbox `buildId` and answers
 * the copy script's sources, as a context upload would have.
 */
export async function stageImageFiles(
  runtime: SandboxRuntime,
  buildId: string,
  step: CopyFromStep,
  source: SourceImage,
  signal: AbortSignal,
): Promise<CopySource[]> {
  const id = newId("bld");
  await runtime.create(
    specFor({
      kind: "copy-from",
      id,
      lowers: source.lowers,
      env: [],
      limits: SOURCE_LIMITS,
      netSlot: null,
      hostIds: source.hostIds,
    }),
  );
  try {
    const matches = await resolveMatches(runtime, id, step, signal);
    const sources: CopySource[] = [];
    for (const [i, m] of matches.entries()) {
      signal.throwIfAborted();
      const archive = await runtime.createArchive(id, m.resolved);
      const dir = `${CONTEXT_DIR}/${i}`;
      await runtime.extractArchive(buildId, dir, capped(archive, `${step.image}:${m.resolved}`));
      const archived = posix.basename(m.resolved);
      // A symlink matched: its target was archived, under the target's name.
      if (archived !== m.name) {
        const code = await runtime.run(
          buildId,
          { argv: [BB, "mv", "--", `${dir}/${archived}`, `${dir}/${m.name}`], env: [], cwd: "/", user: "0:0" },
          () => undefined,
          signal,
        );
        if (code !== 0) throw new SbxError("runtime_error", `COPY --from=${step.image}: could not stage ${m.resolved}`);
      }
      sources.push({ name: m.name, type: m.type });
    }
    return sources;
  } finally {
    await runtime.destroy(id, null).catch(() => undefined);
  }
}

async function resolveMatches(runtime: SandboxRuntime, id: string, step: CopyFromStep, signal: AbortSignal) {
  const out = { stdout: "", stderr: "" };
  const code = await runtime.run(
    id,
    { argv: [BB, "sh", "-c", RESOLVE_SCRIPT, "sh", ...step.paths], env: [], cwd: "/", user: "0:0" },
    (stream, data) => (out[stream] += data.toString("utf8")),
    signal,
  );
  if (code === NO_MATCH)
    throw new SbxError(
      "invalid_argument",
      `COPY --from=${step.image}: ${out.stderr.trim()} matches nothing in ${step.image}`,
    );
  if (code !== 0)
    throw new SbxError(
      "runtime_error",
      `COPY --from=${step.image}: resolving ${step.paths.join(" ")} failed: ${out.stderr.trim() || `exit ${code}`}`,
    );
  const matches = out.stdout
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [name = "", resolved = "", type] = line.split("\t");
      return { name, resolved, type: type === "dir" ? ("dir" as const) : ("file" as const) };
    });
  for (const m of matches) {
    if (!m.name || m.resolved === "/")
      throw new SbxError(
        "invalid_argument",
        `COPY --from=${step.image}: copying the whole root is not supported; name the directories to copy`,
      );
    if (m.name.length > 255 || m.name === "." || m.name === "..")
      throw new SbxError("invalid_argument", `COPY --from=${step.image}: cannot copy ${JSON.stringify(m.name)}`);
  }
  return matches;
}

/** The archive as it streams, failing once it passes what one COPY --from may carry. */
function capped(archive: Readable, what: string): Readable {
  let size = 0;
  const limit = new Transform({
    transform(chunk: Buffer, _enc, done) {
      size += chunk.length;
      if (size > MAX_COPY_FROM_BYTES)
        done(
          new SbxError(
            "invalid_argument",
            `COPY --from ${what}: more than ${MAX_COPY_FROM_BYTES / 2 ** 30} GiB; copy less, or build it in this stage`,
          ),
        );
      else done(null, chunk);
    },
  });
  return pipeline(archive, limit, () => undefined);
}
