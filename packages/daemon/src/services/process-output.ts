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
/**
 * How long a reader counts from read() before its first next(): what a caller that never iterates
 * (nor returns) the events holds at most. A caller starts reading within milliseconds.
 */
export const UNSTARTED_HOLD_MS = 60_000;

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

  /**
   * The events of `p`, read through `handle` (none when its output is gone). The reader counts
   * from this call, not from the first next(): between an exec's answer and its first read, a
   * concurrent start's log pruning must not drop the output of a command that just ended. The
   * count ends when the events end, when they are returned or thrown into (also before the first
   * next(), when a generator's own body never runs), or UNSTARTED_HOLD_MS after this call if
   * nobody ever iterates them.
   */
  read(
    p: ProcessRecord,
    handle: ProcessHandle | undefined,
    follow: boolean,
    signal?: AbortSignal,
  ): AsyncGenerator<ProcessOutputEvent> {
    let release = this.hold(p.id);
    const lapse = setTimeout(() => release(), UNSTARTED_HOLD_MS);
    lapse.unref?.();
    const events = async function* (this: ProcessOutputs): AsyncGenerator<ProcessOutputEvent> {
      clearTimeout(lapse);
      // Started after the hold lapsed: counted again while it reads.
      if (release.done) release = this.hold(p.id);
      try {
        yield* this.follow(p, handle, follow, signal);
      } finally {
        release();
      }
    }.call(this);
    const { return: ret, throw: thr } = events;
    events.return = (value) => {
      clearTimeout(lapse);
      release();
      return ret.call(events, value);
    };
    events.throw = (err) => {
      clearTimeout(lapse);
      release();
      return thr.call(events, err);
    };
    return events;
  }

  /** Counts one reader of the process; the function it returns uncounts it (once). */
  private hold(procId: string): (() => void) & { done: boolean } {
    this.reading.set(procId, (this.reading.get(procId) ?? 0) + 1);
    const release = Object.assign(
      () => {
        if (release.done) return;
        release.done = true;
        const n = this.reading.get(procId)! - 1;
        if (n > 0) this.reading.set(procId, n);
        else this.reading.delete(procId);
      },
      { done: false },
    );
    return release;
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
