// A byte budget for a sandbox's terminal output (F10 of the second security round): a token
// bucket over the sandbox's agent connection. When a sandbox's terminals print faster than the
// budget, the daemon stops reading that connection for as long as the excess takes to drain;
// the agent then stops reading the pty (it never buffers more than 1 MiB for a slow reader), and
// the writer blocks inside the sandbox: the flood waits in the sandbox, at no cost to the host.

/** Bytes per second a sandbox's terminals may send together, and the burst above that. */
export const TERMINAL_BYTES_PER_SEC = 1 << 20;
export const TERMINAL_BURST_BYTES = 256 << 10;

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
