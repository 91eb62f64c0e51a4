// A byte budget for a sandbox's terminal output (F10 of the second security round) and for its
// build steps' output: a token bucket over the sandbox's agent connection. When a sandbox prints
// faster than its budget, the daemon stops reading that connection for as long as the excess
// takes to drain; the agent then stops reading the pty or pipe (it never buffers more than 1 MiB
// for a slow reader), and the writer blocks inside the sandbox: the flood waits in the sandbox, at
// no cost to the host.

/** Bytes per second a sandbox's terminals may send together, and the burst above that. */
export const TERMINAL_BYTES_PER_SEC = 1 << 20;
export const TERMINAL_BURST_BYTES = 256 << 10;
/**
 * The same for a build step's output. Far above what builds print (compilers, package managers:
 * a few MiB a minute), far below what a step printing in a loop sends (~300 MiB/s here), which
 * kept a core of the daemon busy and its API slow for as long as the step ran.
 */
export const STEP_BYTES_PER_SEC = 32 << 20;
export const STEP_BURST_BYTES = 4 << 20;

/** Which budget an output stream is held to. */
export type OutputBudget = "terminal" | "step";

export class OutputMeter {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate = TERMINAL_BYTES_PER_SEC,
    private readonly burst = TERMINAL_BURST_BYTES,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = burst;
    this.last = now();
  }

  /** Spends `bytes`; answers how many milliseconds to stop reading to get back within budget (0: none). */
  charge(bytes: number): number {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) * this.rate) / 1000);
    this.last = t;
    this.tokens -= bytes;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens * 1000) / this.rate);
  }
}
