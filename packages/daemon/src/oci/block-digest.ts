// The sha256 (an export's diff id) and CRC-32 (the gzip trailer) of a layer's uncompressed blocks,
// computed on a worker thread instead of the daemon's main thread. On a busy host the main
// thread's serial work (tar parsing, hashing) is what the compression threads wait for, so the
// hashing goes where it runs in parallel. Blocks live in SharedArrayBuffers: the worker reads
// the very memory zlib deflates, nothing is copied.
import { Worker } from "node:worker_threads";

// Plain JS (an eval'd worker runs the same from source and from dist).
const WORKER = `
const { parentPort } = require("node:worker_threads");
const { createHash } = require("node:crypto");
const { crc32 } = require("node:zlib");
let hash = createHash("sha256");
let crc = 0;
parentPort.on("message", (m) => {
  if (m.block) {
    const b = Buffer.from(m.block, 0, m.length);
    hash.update(b);
    crc = crc32(b, crc);
  } else {
    parentPort.postMessage({ digest: hash.digest("hex"), crc: crc >>> 0 });
    hash = createHash("sha256");
    crc = 0;
  }
});
`;

export class BlockDigest {
  private readonly worker = new Worker(WORKER, { eval: true });
  private failed: Error | undefined;

  constructor() {
    this.worker.on("error", (e) => (this.failed = e));
  }

  /** A block backed by shared memory, for block() (and for anything else to read meanwhile). */
  static alloc(size: number): Buffer {
    return Buffer.from(new SharedArrayBuffer(size));
  }

  /** Hashes a block made by alloc(), in order. */
  block(b: Buffer): void {
    this.worker.postMessage({ block: b.buffer, length: b.length });
  }

  /** The digest and CRC of every block so far; the worker ends. */
  async finish(): Promise<{ digest: string; crc: number }> {
    try {
      if (this.failed) throw this.failed;
      const done = new Promise<{ digest: string; crc: number }>((resolve, reject) => {
        this.worker.once("message", resolve);
        this.worker.once("error", reject);
      });
      this.worker.postMessage({ end: true });
      return await done;
    } finally {
      await this.worker.terminate();
    }
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
