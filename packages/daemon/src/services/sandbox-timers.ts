// Sandbox timeouts: one timer per sandbox, re-armed in steps past setTimeout's 2^31-1 ms limit,
// never keeping the daemon alive. What happens at the timeout (suspend or terminate) is the
// lifecycle's call, handed in as `expire`.
import type { Logger } from "../common/log.js";

export class SandboxTimers {
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly expire: (id: string) => Promise<unknown>,
    private readonly log: Logger,
  ) {}

  /** Fires `expire(id)` in `ms` (nothing for 0 or less: no timeout); replaces the sandbox's timer. */
  arm(id: string, ms: number): void {
    clearTimeout(this.timers.get(id));
    this.timers.delete(id);
    if (ms <= 0) return;
    // setTimeout overflows past 2^31-1 ms; long timeouts re-arm in steps.
    const step = Math.min(ms, 2 ** 31 - 1);
    const t = setTimeout(() => {
      this.timers.delete(id);
      if (ms > step) return this.arm(id, ms - step);
      this.expire(id).catch((err: unknown) => this.log.error({ sandbox: id, err }, "timeout handling failed"));
    }, step);
    t.unref();
    this.timers.set(id, t);
  }

  clear(id: string): void {
    clearTimeout(this.timers.get(id));
    this.timers.delete(id);
  }

  /** Stops every timer (daemon shutdown); the next daemon re-arms them from the records. */
  close(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}
