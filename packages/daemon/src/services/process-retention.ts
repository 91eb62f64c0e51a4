// What a sandbox keeps of its ended processes, checked before each process start, bounded both in
// what it keeps and in the work a start does, however many processes the sandbox has run:
// - history: the newest `history` processes stay listed with their exit codes; older ended ones
//   are forgotten (record, output, exit files), checked every history/8 starts, so a sandbox holds
//   at most history + history/8 ended processes and a start pays for the forgetting of about one;
// - output: once the log store is over half full, the oldest output goes until three quarters
//   are free (./log-retention.ts), each ended process's at most once (a watermark); when what
//   fills the store is not ended processes' output, the output is looked at again only after
//   history/8 more starts. Otherwise, a start costs one look at how full the store is.
// The bookkeeping is per sandbox and in memory: a restarted daemon checks everything once at the
// first start. Output someone is reading is never dropped, nor the process forgotten.
import type { Logger } from "../common/log.js";
import type { SandboxRuntime } from "../runtime/runtime.js";
import type { Store } from "../store/store.js";
import { endedFirst, pruneLogs, type ExitedOutput } from "./log-retention.js";

/** Ended processes a sandbox keeps listed by default (sbxd --process-history). */
export const DEFAULT_PROCESS_HISTORY = 1000;
/** Processes forgotten at once are forgotten this many at a time on the runtime. */
const FORGET_PARALLEL = 16;

interface SandboxRetention {
  /** Starts before the history is checked again (0: at this one). */
  untilHistoryCheck: number;
  /** Starts before output is looked at again, after a prune that could not free enough. */
  outputPause: number;
  /** Every ended process up to this one (endedFirst order) has had its output dropped. */
  outputDroppedTo: ExitedOutput | undefined;
  /** A check is under way: a start meanwhile (in the same sandbox) does not run another. */
  busy: boolean;
}

export class ProcessRetention {
  private readonly sandboxes = new Map<string, SandboxRetention>();
  /** How often (in starts) the history is checked: it holds at most history + checkEvery ended processes. */
  readonly checkEvery: number;

  constructor(
    private readonly store: Pick<Store, "listProcesses" | "exitedProcessesBeyond" | "deleteProcesses">,
    private readonly runtime: Pick<SandboxRuntime, "outputUsage" | "discardOutput" | "forgetProcess">,
    /** Whether someone is reading a process's output right now (./process-output.ts). */
    private readonly beingRead: (procId: string) => boolean,
    private readonly log: Logger,
    readonly history = DEFAULT_PROCESS_HISTORY,
  ) {
    this.checkEvery = Math.max(1, Math.ceil(history / 8));
  }

  /** Before a process starts in the sandbox. Never fails the start: a failed check is logged. */
  async beforeStart(sandboxId: string): Promise<void> {
    let s = this.sandboxes.get(sandboxId);
    if (!s) {
      s = { untilHistoryCheck: 0, outputPause: 0, outputDroppedTo: undefined, busy: false };
      this.sandboxes.set(sandboxId, s);
    }
    if (s.busy) return;
    s.busy = true;
    try {
      if (s.untilHistoryCheck-- <= 0) {
        s.untilHistoryCheck = this.checkEvery - 1;
        await this.forgetOld(sandboxId).catch((err: unknown) =>
          this.log.warn({ sandbox: sandboxId, err }, "forgetting old processes failed"),
        );
      }
      if (s.outputPause > 0) s.outputPause--;
      else
        await this.pruneOutput(sandboxId, s).catch((err: unknown) =>
          this.log.warn({ sandbox: sandboxId, err }, "pruning output logs failed"),
        );
    } finally {
      s.busy = false;
    }
  }

  /** The sandbox ended: its bookkeeping goes (its records go with its own, later). */
  sandboxEnded(sandboxId: string): void {
    this.sandboxes.delete(sandboxId);
  }

  private async forgetOld(sandboxId: string): Promise<void> {
    const ids = (await this.store.exitedProcessesBeyond(sandboxId, this.history)).filter((id) => !this.beingRead(id));
    if (ids.length === 0) return;
    // Files first: should the daemon die in between, the records stay and go at the next check.
    for (let i = 0; i < ids.length; i += FORGET_PARALLEL)
      await Promise.all(ids.slice(i, i + FORGET_PARALLEL).map((id) => this.runtime.forgetProcess(sandboxId, id)));
    const forgotten = await this.store.deleteProcesses(sandboxId, ids);
    // The routine forgetting of a few at each check is what the history limit says: only a
    // backlog (a sandbox of an older daemon, a raised limit lowered) is worth a line.
    if (forgotten > 2 * this.checkEvery)
      this.log.info(
        { sandbox: sandboxId, forgotten },
        "process history over its limit: forgot the oldest ended processes",
      );
  }

  private async pruneOutput(sandboxId: string, s: SandboxRetention): Promise<void> {
    const output = {
      usage: () => this.runtime.outputUsage(sandboxId),
      discard: (procId: string) => this.runtime.discardOutput(sandboxId, procId),
    };
    // Only those past the watermark: the output of the ones before it is gone already.
    const exited = async (): Promise<ExitedOutput[]> =>
      (await this.store.listProcesses(sandboxId))
        .filter((p) => p.status === "exited" && p.endedAt !== null && !this.beingRead(p.id))
        .map((p) => ({ procId: p.id, endedAt: p.endedAt! }))
        .filter((p) => !s.outputDroppedTo || endedFirst(s.outputDroppedTo, p) < 0);
    const r = await pruneLogs(output, exited);
    if (!r) return;
    if (r.last) s.outputDroppedTo = r.last;
    if (r.stuck) s.outputPause = this.checkEvery;
    this.log.info(
      { sandbox: sandboxId, pruned: r.pruned, stuck: r.stuck },
      r.stuck
        ? "output logs over half full, and still over a quarter with every ended process's output dropped: running processes or the sandbox's own files fill them"
        : "output logs over half full: dropped the oldest exited processes' output",
    );
  }
}
