// The sha256 (an export's diff id) and CRC-32 (the gzip trailer) of a layer's uncompressed blocks,
// computed on a worker thread instead of the daemon's main thread. On a busy host the main
// thread's serial work (tar parsing, hashing) is what the compression threads wait for, so the
// hashing goes where it runs in parallel. The blocks are slots of one SharedArrayBuffer (the
// arena GzipBlocks fills and zlib deflates): the worker reads that very memory, and block
// hand-offs are counters in shared memory, not messages, so nothing is copied or allocated per
// block (per-block messages and buffers were a third of the export's main-thread time, in GC).
import { Worker } from "node:worker_threads";

/**
 * Control words: blocks submitted, blocks hashed, the end flag, whether the worker sleeps, whether
 * the main thread waits, then each slot's length. A side only notifies the other when it sleeps:
 * Atomics.notify takes V8's global futex lock and showed in the daemon's main-thread profile.
 */
const HEAD = 0;
const DONE = 1;
const END = 2;
const WORKER_SLEEPS = 3;
const MAIN_WAITS = 4;
const LENGTHS = 5;

/** Atomics.waitAsync (Node 16+; not in the ES2023 lib typings). */
type WaitAsync = (a: Int32Array, i: number, v: number, ms?: number) => { async: boolean; value: unknown };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

// Plain JS (an eval'd worker runs the same from source and from dist). It blocks in Atomics.wait
// between blocks, so the end is a flag in shared memory too; the result goes back as a message.
// One worker serves job after job (a message each): starting one costs ~30 ms of CPU and, on a
// busy host, 100+ ms before the first block can be hashed.
const WORKER = `
const { parentPort } = require("node:worker_threads");
const { createHash } = require("node:crypto");
const { crc32 } = require("node:zlib");
function run({ arena, ctrl: ctrlBuf, slots, blockSize }) {
  const ctrl = new Int32Array(ctrlBuf);
  const hash = createHash("sha256");
  let crc = 0;
  let done = 0;
  for (;;) {
    const head = Atomics.load(ctrl, ${HEAD});
    if (head === done) {
      if (Atomics.load(ctrl, ${END}) === 1) break;
      // The flag goes up before the wait re-reads HEAD (atomically): a block submitted after the
      // flag is seen either changes HEAD before the wait (no sleep) or is followed by a notify.
      Atomics.store(ctrl, ${WORKER_SLEEPS}, 1);
      Atomics.wait(ctrl, ${HEAD}, head);
      Atomics.store(ctrl, ${WORKER_SLEEPS}, 0);
      continue;
    }
    const slot = done % slots;
    const b = Buffer.from(arena, slot * blockSize, ctrl[${LENGTHS} + slot]);
    hash.update(b);
    crc = crc32(b, crc);
    done++;
    Atomics.store(ctrl, ${DONE}, done);
    if (Atomics.load(ctrl, ${MAIN_WAITS}) === 1) Atomics.notify(ctrl, ${DONE});
  }
  return { digest: hash.digest("hex"), crc: crc >>> 0 };
}
parentPort.on("message", (job) => parentPort.postMessage(run(job)));
`;

/** Workers done with a job, kept (unref'd: they never hold the daemon up) for the next ones. */
const IDLE: Worker[] = [];
const MAX_IDLE = 2;
/** Workers started so far (tests check that finished ones are reused). */
export const hashWorkers = { started: 0 };

function takeWorker(): Worker {
  const w = IDLE.pop() ?? (hashWorkers.started++, new Worker(WORKER, { eval: true }));
  w.ref();
  return w;
}

/** Keeps a worker that finished its job cleanly; any other is ended. */
async function giveBack(w: Worker): Promise<void> {
  w.removeAllListeners("error");
  w.removeAllListeners("message");
  if (IDLE.length >= MAX_IDLE) return void (await w.terminate());
  // An idle worker that dies (it should not) must not stay in the pool or throw unhandled.
  w.once("error", () => IDLE.splice(IDLE.indexOf(w) >>> 0, 1));
  w.once("exit", () => IDLE.includes(w) && IDLE.splice(IDLE.indexOf(w), 1));
  w.unref();
  IDLE.push(w);
}

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
    this.worker = takeWorker();
    this.worker.on("error", (e) => (this.failed = e));
    this.worker.postMessage({ arena, ctrl, slots, blockSize });
  }

  /** Hashes the block in `slot` (length bytes), after every block submitted before it. */
  submit(slot: number, length: number): void {
    const ctrl = this.ctrl!;
    ctrl[LENGTHS + slot] = length;
    this.submitted++;
    Atomics.store(ctrl, HEAD, this.submitted);
    if (Atomics.load(ctrl, WORKER_SLEEPS) === 1) Atomics.notify(ctrl, HEAD);
  }

  /** Resolves once the first `n` blocks are hashed (their slots may then be refilled). */
  async hashed(n: number): Promise<void> {
    const ctrl = this.ctrl!;
    for (;;) {
      if (this.failed) throw this.failed;
      const done = Atomics.load(ctrl, DONE);
      if (done >= n) return;
      Atomics.store(ctrl, MAIN_WAITS, 1);
      const w = waitAsync(ctrl, DONE, done, 1000);
      if (w.async) await w.value;
      Atomics.store(ctrl, MAIN_WAITS, 0);
    }
  }

  /** The digest and CRC of every block submitted; the worker goes back to the pool. */
  async finish(): Promise<{ digest: string; crc: number }> {
    const worker = this.worker!;
    this.worker = undefined;
    let result: { digest: string; crc: number };
    try {
      if (this.failed) throw this.failed;
      const done = new Promise<{ digest: string; crc: number }>((resolve, reject) => {
        worker.once("message", resolve);
        worker.once("error", reject);
        worker.once("exit", () => reject(new Error("the hashing worker exited")));
      });
      Atomics.store(this.ctrl!, END, 1);
      Atomics.notify(this.ctrl!, HEAD);
      result = await done;
    } catch (err) {
      await worker.terminate();
      throw err;
    }
    worker.removeAllListeners("exit");
    await giveBack(worker);
    return result;
  }

  /** Gives up: a worker mid-job is ended, never reused (safe after finish() too). */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }
}
