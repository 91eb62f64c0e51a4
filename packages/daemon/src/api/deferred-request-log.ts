// The request log lines and metrics of the control plane's fast path (api/cluster-fast-path.ts),
// written a little after their calls and together, not each in the middle of its own call. A
// forwarded call is short (an exec of `true` takes a few milliseconds), and logging it when the
// node's answer head came (pino's line, the write to stdout that wakes its reader, prom-client's
// counter and histogram) put that work between the node's head and its first line, on every call;
// done for a batch at once, the same work runs with warm caches and wakes the log's reader once.
// A line is the same as it would have been (its `ms` is still measured at the answer's head); it is
// written at most `delayMs` later, or at once when `max` lines wait. close() writes what waits.
import type { Logger } from "../common/log.js";
import type { DaemonMetrics } from "../services/metrics.js";
import { logRequest, type RequestLine } from "./request-log.js";

export class DeferredRequestLog {
  private waiting: RequestLine[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly log: Logger,
    private readonly metrics: DaemonMetrics | undefined,
    private readonly delayMs = 100,
    private readonly max = 256,
  ) {}

  /** Logs and counts `line` within `delayMs`. */
  add(line: RequestLine): void {
    this.waiting.push(line);
    if (this.waiting.length >= this.max) this.flush();
    // One timer per batch, not per call; it does not keep the process up (close() writes what waits).
    else this.timer ??= setTimeout(() => this.flush(), this.delayMs).unref();
  }

  /** Writes every waiting line now. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const lines = this.waiting;
    this.waiting = [];
    for (const line of lines) logRequest(this.log, this.metrics, line);
  }

  /** Lines not written yet. */
  get pending(): number {
    return this.waiting.length;
  }
}
