// A layer blob whose size and digest are known ahead (BlobMemo) goes straight into the archive
// as it is compressed: this sink hands the bytes to the archive's reader with backpressure, and
// refuses to pass the size the tar header announced (a layer that changed since the memo was
// made is then an error, never a corrupt archive). TeeSink feeds a Spool and a StreamSink at once:
// a layer seen for the first time, streamed in the patched export form and kept for the cache.
import { PassThrough } from "node:stream";
import { SbxError } from "@sbx-sh/protocol";
import type { BlobSink } from "./layer-blob.js";
import type { Spool } from "./spool.js";

export class StreamSink implements BlobSink {
  /** What the archive reads (ends when the blob is complete; destroyed with the error on failure). */
  readonly out = new PassThrough({ highWaterMark: 4 << 20 });
  private bytes = 0;

  constructor(private readonly expected: number) {
    // The reader sees a failure through its iteration; the event itself may come with no reader left.
    this.out.on("error", () => undefined);
  }

  get size(): number {
    return this.bytes;
  }

  write(b: Buffer): Promise<void> | undefined {
    this.bytes += b.length;
    if (this.bytes > this.expected)
      throw new SbxError("runtime_error", `the layer's blob is larger than its recorded ${this.expected} bytes`);
    if (this.out.destroyed) throw new SbxError("runtime_error", "the export was abandoned");
    if (this.out.write(b)) return undefined;
    // Also settles when the reader goes away (no drain will come): the next write then throws.
    return new Promise((resolve) => {
      const done = (): void => {
        this.out.off("drain", done);
        this.out.off("close", done);
        resolve();
      };
      this.out.once("drain", done);
      this.out.once("close", done);
    });
  }

  async end(): Promise<void> {
    this.out.end();
  }

  fail(err: unknown): void {
    this.out.destroy(err instanceof Error ? err : new Error(String(err)));
  }
}

/**
 * A first-time layer's blob, into its spool (for the cache, or to send again) and to the archive's
 * reader as it is made. Past `streamLimit` bytes (the most a 512-byte tar header can announce) the
 * stream ends and only the spool goes on: the archive then sends the blob from the spool instead.
 */
export class TeeSink implements BlobSink {
  readonly stream: StreamSink;

  constructor(
    readonly spool: Spool,
    private readonly streamLimit: number,
  ) {
    this.stream = new StreamSink(Number.MAX_SAFE_INTEGER);
  }

  get size(): number {
    return this.spool.size;
  }

  /** Whether the blob outgrew the stream (it is then whole in the spool only). */
  get overflowed(): boolean {
    return this.spool.size > this.streamLimit;
  }

  write(b: Buffer): Promise<void> | undefined {
    const s = this.spool.write(b);
    if (this.overflowed) {
      if (!this.stream.out.writableEnded) void this.stream.end();
      return s;
    }
    const w = this.stream.write(b);
    return s && w ? Promise.all([s, w]).then(() => undefined) : (s ?? w);
  }

  async end(): Promise<void> {
    await this.spool.end();
    await this.stream.end();
  }

  fail(err: unknown): void {
    this.stream.fail(err);
  }
}
