// Reading a process's output as events: what it wrote so far, then (following) what it writes
// next, ending with its exit once the store records it and both streams are read to their end.
// Counts who is reading each process, since log pruning must never drop output being read, and
// wakes followers as soon as a process exits instead of at their next poll. A follower listens for
// the exit before it looks at the record, so an exit recorded while it reads is never missed (a
// short command used to end just then and cost its caller a whole poll interval).
import { EventEmitter } from "node:events";
import type { ProcessOutputEvent, ProcessRecord } from "../domain/records.js";
import type { ProcessHandle } from "../runtime/runtime.js";
import type { Store } from "../store/store.js";

const FOLLOW_POLL_MS = 20;

export class ProcessOutputs {
  private readonly exits = new EventEmitter();
  /** Processes whose output someone is reading right now: their logs are never pruned. */
  private readonly reading = new Map<string, number>();

  constructor(private readonly store: Store) {
    this.exits.setMaxListeners(0);
  }

  isBeingRead(procId: string): boolean {
    return this.reading.has(procId);
  }

  /** The process's end is recorded: followers stop waiting for their next poll. */
  exited(procId: string): void {
    this.exits.emit(procId);
  }

  /** The events of `p`, read through `handle` (none when its output is gone). */
  async *read(
    p: ProcessRecord,
    handle: ProcessHandle | undefined,
    follow: boolean,
    signal?: AbortSignal,
  ): AsyncGenerator<ProcessOutputEvent> {
    this.reading.set(p.id, (this.reading.get(p.id) ?? 0) + 1);
    try {
      yield* this.follow(p, handle, follow, signal);
    } finally {
      const n = this.reading.get(p.id)! - 1;
      if (n > 0) this.reading.set(p.id, n);
      else this.reading.delete(p.id);
    }
  }

  private async *follow(
    p: ProcessRecord,
    handle: ProcessHandle | undefined,
    follow: boolean,
    signal?: AbortSignal,
  ): AsyncGenerator<ProcessOutputEvent> {
    const offsets = { stdout: 0, stderr: 0 };
    for (;;) {
      // Listening before the record is read: an exit recorded from here on wakes the wait below.
      const wake = this.exitOrTick(p.id);
      // Cancelled however this iteration ends (a consumer that stops reading returns here too).
      try {
        const done = (await this.store.getProcess(p.sandboxId, p.id))!;
        const ended = done.status === "exited";
        // Read both streams to their current end before deciding the process is finished.
        let progressed = handle !== undefined;
        while (progressed) {
          progressed = false;
          for (const stream of ["stdout", "stderr"] as const) {
            const chunk = await handle!.read(stream, offsets[stream]);
            if (!chunk.length) continue;
            offsets[stream] += chunk.length;
            progressed = true;
            yield { type: stream, data: chunk.toString("base64") };
          }
        }
        if (ended) {
          yield { type: "exit", exitCode: done.exitCode, signal: done.signal, timedOut: done.timedOut };
          return;
        }
        if (!follow || signal?.aborted) return;
        await wake.fired;
      } finally {
        wake.cancel();
      }
    }
  }

  /**
   * Settles `fired` at the process's next recorded exit or after FOLLOW_POLL_MS (new output has no
   * event: the poll finds it), whichever comes first; `cancel` stops listening.
   */
  private exitOrTick(procId: string): { fired: Promise<void>; cancel: () => void } {
    let cancel = (): void => undefined;
    const fired = new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        this.exits.off(procId, done);
        resolve();
      };
      const t = setTimeout(done, FOLLOW_POLL_MS);
      this.exits.once(procId, done);
      cancel = done;
    });
    return { fired, cancel };
  }
}
