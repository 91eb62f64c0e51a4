// A layer blob whose size and digest are known ahead (BlobMemo) goes straight into the archive
// as it is compressed: this sink hands the bytes to the archive's reader with backpressure, and
// refuses to pass the size the tar header announced (a layer that changed since the memo was
// made is then an error, never a corrupt archive).
import { PassThrough } from "node:stream";
import { SbxError } from "@sbx-sh/protocol";
import type { BlobSink } from "./layer-blob.js";

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
