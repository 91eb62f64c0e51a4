// Output logs of one sandbox share a small tmpfs (see runtime/crun-runtime.ts). Once it is more
// than half full, the logs of exited processes are deleted, oldest first: otherwise one output
// flood, or months of small outputs, would leave every later process writing into a full disk
// and silently losing all its output.
import { rm, statfs } from "node:fs/promises";
import { dirname } from "node:path";

export interface ExitedLogs {
  endedAt: string;
  files: string[];
}

/**
 * Deletes logs of the exited processes (oldest first) until `dir` is at most half full; returns how
 * many went. `exited` is asked for only when pruning is due: this runs before every process start.
 */
export async function pruneLogs(
  dir: string,
  exited: ExitedLogs[] | (() => ExitedLogs[] | Promise<ExitedLogs[]>),
): Promise<number> {
  const used = async (): Promise<number> => {
    const s = await statfs(dir);
    return s.blocks === 0 ? 0 : 1 - s.bfree / s.blocks;
  };
  if ((await used()) <= 0.5) return 0;
  let pruned = 0;
  for (const p of [...(typeof exited === "function" ? await exited() : exited)].sort((a, b) =>
    a.endedAt.localeCompare(b.endedAt),
  )) {
    for (const f of p.files) if (dirname(f) === dir) await rm(f, { force: true });
    pruned++;
    if ((await used()) <= 0.5) break;
  }
  return pruned;
}
