// sbx-deflate (packages/daemon/deflate, built by `npm run build` against Debian's libdeflate) as
// the gzip program of OCI layer exports. Found once at daemon start: when it is missing (no
// libdeflate-dev at build time, SBX_DEFLATE=off) or does not answer as expected, exports use zlib
// in the daemon instead. Its `--version` line names everything its bytes depend on and becomes
// part of the blob keys, so a blob made by one compressor is never taken for the other's.
import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { runCommand, startCommand } from "../common/command.js";
import type { GzipProcess, GzipProgram } from "../oci/program-gzip.js";

/** Level 1 and 1 MiB blocks: the blob bytes depend on both (the thread count does not). */
const ARGS = ["-l", "1", "-b", "1024"];

/** A layer is compressed as fast as it is read: hours would mean a stuck filesystem (tar's limit too). */
const TIMEOUT_MS = 2 * 60 * 60_000;

const VERSION = /^sbx-deflate framing \d+ libdeflate [0-9][0-9A-Za-z.+~-]*$/;

export class DeflateHelper implements GzipProgram {
  constructor(
    readonly path: string,
    readonly id: string,
  ) {}

  start(): GzipProcess {
    const threads = String(Math.min(64, availableParallelism()));
    const p = startCommand(this.path, [...ARGS, "-t", threads], { stdout: true, timeoutMs: TIMEOUT_MS });
    return { stdin: p.stdin, stdout: p.stdout, done: p.done, kill: p.kill };
  }
}

/** The helper at `path` when it runs, with what it says it is; undefined (zlib) otherwise, with why. */
export async function findDeflateHelper(
  path: string | null,
): Promise<{ helper?: DeflateHelper; version?: string; why?: string }> {
  if (path === null) return { why: "turned off (SBX_DEFLATE=off)" };
  if (!existsSync(path)) return { why: `${path} is not built (apt-get install libdeflate-dev; npm run build)` };
  const r = await runCommand(path, ["--version"], { timeoutMs: 10_000, maxStdoutBytes: 200 }).catch((err: Error) => ({
    code: -1,
    stdout: Buffer.alloc(0),
    stderr: err.message,
  }));
  const line = r.stdout.toString("utf8").trim();
  if (r.code !== 0 || !VERSION.test(line))
    return { why: `${path} --version did not answer: ${r.stderr.trim() || line}` };
  return { helper: new DeflateHelper(path, `${line} ${ARGS.join(" ")}`), version: line };
}
