// The sha256 (an export's diff id) and CRC-32 (the gzip trailer) of a layer's uncompressed blocks,
// computed on a worker thread instead of the daemon's main thread. On a busy host the main
// thread's serial work (tar parsing, hashing) is what the compression threads wait for, so the
// hashing goes where it runs in parallel. The blocks are slots of one SharedArrayBuffer (the
// arena GzipBlocks fills and zlib deflates): the worker reads that very memory, and block
// hand-offs are counters in shared memory, not messages, so nothing is copied or allocated per
// block (per-block messages and buffers were a third of the export's main-thread time, in GC).
import { Worker } from "node:worker_threads";

/** Control words: blocks submitted, blocks hashed, the end flag, then each slot's length. */
const HEAD = 0;
const DONE = 1;
const END = 2;
const LENGTHS = 3;

/** Atomics.waitAsync (Node 16+; not in the ES2023 lib typings). */
type WaitAsync = (a: Int32Array, i: number, v: number, ms?: number) => { async: boolean; value: unknown };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

// Plain JS (an eval'd worker runs the same from source and from dist). It blocks in Atomics.wait
// between blocks, so the end is a flag in shared memory too; the result goes back as a message.
const WORKER = `
const { parentPort, workerData } = require("node:worker_threads");
const { createHash } = require("node:crypto");
const { crc32 } = require("node:zlib");
const { arena, ctrl: ctrlBuf, slots, blockSize } = workerData;
const ctrl = new Int32Array(ctrlBuf);
const hash = createHash("sha256");
let crc = 0;
let done = 0;
for (;;) {
  const head = Atomics.load(ctrl, ${HEAD});
  if (head === done) {
    if (Atomics.load(ctrl, ${END}) === 1) break;
    Atomics.wait(ctrl, ${HEAD}, head);
    continue;
  }
  const slot = done % slots;
  const b = Buffer.from(arena, slot * blockSize, ctrl[${LENGTHS} + slot]);
  hash.update(b);
  crc = crc32(b, crc);
  done++;
  Atomics.store(ctrl, ${DONE}, done);
  Atomics.notify(ctrl, ${DONE});
}
parentPort.postMessage({ digest: hash.digest("hex"), crc: crc >>> 0 });
`;

export class BlockDigest {
  private worker: Worker | undefined;
  private ctrl: Int32Array | undefined;
  private failed: Error | undefined;
  private submitted = 0;

  /** Starts the worker on `slots` blocks of `blockSize` bytes in `arena` (GzipBlocks calls this). */
  attach(arena: SharedArrayBuffer, slots: number, blockSize: number): void {
    if (this.worker) throw new Error("BlockDigest is attached already");
    const ctrl = new SharedArrayBuffer(4 * (LENGTHS + slots));
    this.ctrl = new Int32Array(ctrl);
    this.worker = new Worker(WORKER, { eval: true, workerData: { arena, ctrl, slots, blockSize } });
    this.worker.on("error", (e) => (this.failed = e));
  }

  /** Hashes the block in `slot` (length bytes), after every block submitted before it. */
  submit(slot: number, length: number): void {
    const ctrl = this.ctrl!;
    ctrl[LENGTHS + slot] = length;
    this.submitted++;
    Atomics.store(ctrl, HEAD, this.submitted);
    Atomics.notify(ctrl, HEAD);
  }

  /** Resolves once the first `n` blocks are hashed (their slots may then be refilled). */
  async hashed(n: number): Promise<void> {
    const ctrl = this.ctrl!;
    for (;;) {
      if (this.failed) throw this.failed;
      const done = Atomics.load(ctrl, DONE);
      if (done >= n) return;
      const w = waitAsync(ctrl, DONE, done, 1000);
      if (w.async) await w.value;
    }
  }

  /** The digest and CRC of every block submitted; the worker ends. */
  async finish(): Promise<{ digest: string; crc: number }> {
    const worker = this.worker!;
    try {
      if (this.failed) throw this.failed;
      const done = new Promise<{ digest: string; crc: number }>((resolve, reject) => {
        worker.once("message", resolve);
        worker.once("error", reject);
      });
      Atomics.store(this.ctrl!, END, 1);
      Atomics.notify(this.ctrl!, HEAD);
      return await done;
    } finally {
      await worker.terminate();
    }
  }

  async close(): Promise<void> {
    await this.worker?.terminate();
  }
}
