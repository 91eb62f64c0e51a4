// A terminal's scrollback: the last bytes its program wrote, kept so a client that went away can
// attach again and see what it missed, bounded so a flood costs no more than the limit.

export const SCROLLBACK_BYTES = 64 * 1024;

/** The last `limit` bytes written, as chunks (no copying on the hot path). */
export class Scrollback {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly limit = SCROLLBACK_BYTES) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > this.limit) {
      const first = this.chunks[0]!;
      const excess = this.size - this.limit;
      if (first.length <= excess) {
        this.chunks.shift();
        this.size -= first.length;
      } else {
        this.chunks[0] = first.subarray(excess);
        this.size -= excess;
      }
    }
  }

  contents(): Buffer {
    return Buffer.concat(this.chunks, this.size);
  }
}
