// Output logs of one sandbox share a small store of the runtime's (a tmpfs for crun). Once it is
// more than half full, the output of exited processes is dropped, oldest first: otherwise one
// output flood, or months of small outputs, would leave every later process writing into a full
// disk and silently losing all its output.

/** A sandbox's process output as the runtime keeps it. */
export interface OutputStore {
  /** How full it is, from 0 to 1. */
  usage(): Promise<number>;
  /** Drops the output of one ended process. */
  discard(procId: string): Promise<void>;
}

export interface ExitedOutput {
  procId: string;
  endedAt: string;
}

type Exited = ExitedOutput[] | (() => ExitedOutput[] | Promise<ExitedOutput[]>);

/**
 * Drops the output of exited processes (oldest first) until the store is at most half full; returns
 * how many went. `exited` is asked for only when pruning is due: this runs before every process start.
 */
export async function pruneLogs(output: OutputStore, exited: Exited): Promise<number> {
  if ((await output.usage()) <= 0.5) return 0;
  const candidates = typeof exited === "function" ? await exited() : exited;
  let pruned = 0;
  for (const p of [...candidates].sort((a, b) => a.endedAt.localeCompare(b.endedAt))) {
    await output.discard(p.procId);
    pruned++;
    if ((await output.usage()) <= 0.5) break;
  }
  return pruned;
}
