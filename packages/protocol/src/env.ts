// Environment lists ("K=V") as images and sandboxes carry them: merging with overrides, always
// with a PATH, so a command is found in every image; and whether a command line plus its
// environment fits what the kernel's exec accepts.
import { SbxError } from "./errors.js";

export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Base env list, then overrides on top (later wins); a PATH is always there. */
export function mergeEnv(base: string[], overrides: Record<string, string>): string[] {
  const map = new Map<string, string>();
  map.set("PATH", DEFAULT_PATH);
  for (const kv of base) {
    const i = kv.indexOf("=");
    if (i > 0) map.set(kv.slice(0, i), kv.slice(i + 1));
  }
  for (const [k, v] of Object.entries(overrides)) map.set(k, v);
  return [...map].map(([k, v]) => `${k}=${v}`);
}

/** The kernel refuses a single argv/env string of 128 KiB or more (MAX_ARG_STRLEN). */
const MAX_EXEC_STRING_BYTES = 128 * 1024 - 1;
/** Well below ARG_MAX (2 MiB with the usual 8 MiB stack), leaving room for the runtime's own arguments. */
export const MAX_EXEC_TOTAL_BYTES = 1024 * 1024;

/** Refuses (out_of_range) a command line and environment that exec would fail with E2BIG. */
export function assertExecFits(argv: string[], env: string[]): void {
  let total = 0;
  for (const s of [...argv, ...env]) {
    const bytes = Buffer.byteLength(s) + 1;
    if (bytes > MAX_EXEC_STRING_BYTES)
      throw new SbxError(
        "out_of_range",
        `an argument or environment variable of ${bytes} bytes is too long: exec takes at most ${MAX_EXEC_STRING_BYTES} bytes each; pass big data in a file`,
      );
    total += bytes;
  }
  if (total > MAX_EXEC_TOTAL_BYTES)
    throw new SbxError(
      "out_of_range",
      `the command line and environment take ${total} bytes; at most ${MAX_EXEC_TOTAL_BYTES} are allowed: pass big data in a file`,
    );
}
