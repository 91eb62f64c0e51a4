// Output logs of one sandbox share a small store of the runtime's (a tmpfs for crun). Once it is
// more than half full, the output of exited processes is dropped, oldest first, until three
// quarters are free: otherwise one output flood, or months of small outputs, would leave every
// later process writing into a full disk and silently losing all its output. Pruning well below
// the mark that starts it (hysteresis) makes a prune rare: the next one waits until a quarter of
// the store has been written again, instead of one prune (and one listing of the exited) per start.

/** Output is pruned once the store is fuller than this... */
export const PRUNE_ABOVE = 0.5;
/** ...down to this. */
export const PRUNE_DOWN_TO = 0.25;

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

export interface PruneResult {
  /** How many processes' output went. */
  pruned: number;
  /** The last whose output went: every candidate ended before it (endedAt, then procId) went too. */
  last: ExitedOutput | undefined;
  /**
   * Every candidate went and the store is still fuller than PRUNE_DOWN_TO: what fills it is not
   * ended processes' output (running ones', or the sandbox's own files). Pruning again at once
   * would only walk the same candidates for nothing.
   */
  stuck: boolean;
}

/**
 * When the store is over PRUNE_ABOVE, drops the output of exited processes (oldest end first) until
 * it is at most PRUNE_DOWN_TO; undefined when no prune was due. `exited` is asked for only when
 * pruning is due: this runs before every process start.
 */
export async function pruneLogs(output: OutputStore, exited: Exited): Promise<PruneResult | undefined> {
  if ((await output.usage()) <= PRUNE_ABOVE) return undefined;
  const candidates = typeof exited === "function" ? await exited() : exited;
  let pruned = 0;
  let last: ExitedOutput | undefined;
  for (const p of [...candidates].sort(endedFirst)) {
    await output.discard(p.procId);
    pruned++;
    last = p;
    if ((await output.usage()) <= PRUNE_DOWN_TO) return { pruned, last, stuck: false };
  }
  return { pruned, last, stuck: true };
}

/** Oldest end first; ends in the same millisecond by id, so that "ended before" is a total order. */
export function endedFirst(a: ExitedOutput, b: ExitedOutput): number {
  return a.endedAt.localeCompare(b.endedAt) || a.procId.localeCompare(b.procId);
}
