// gzip on several cores for one stream, the way pigz does it: the input is cut into blocks, each
// block is deflated on its own in zlib's thread pool (several at once) and ends on a byte boundary
// (Z_SYNC_FLUSH), and the pieces are written in order between one gzip header and one trailer
// (CRC-32 and size of the whole input). Any gunzip reads it as one member. Deterministic for a
// given level, memLevel and block size, so an export's digests are stable.
import { Transform, type TransformCallback } from "node:stream";
import { constants, crc32, createDeflateRaw, deflateRawSync, type DeflateRaw } from "node:zlib";
import type { BlockDigest } from "./block-digest.js";

const HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0x03]);

/**
 * zlib's largest hash table (2^16 heads instead of memLevel 8's 2^15, 256 KiB more per lane): at
 * level 1 fewer hash collisions send deflate into fewer useless match searches. On debian-minimal's
 * 126 MB layer tar in 1 MiB blocks: ~8% less deflate CPU (1.22 s against 1.32 s, medians of 6
 * alternated runs) for 0.4% more bytes (44.59 MB against 44.39 MB). The compression is most of a
 * first export's CPU on a busy host.
 */
export const MEM_LEVEL = 9;

export interface ParallelGzipOptions {
  level?: number;
  /** zlib's memLevel (default 9, see MEM_LEVEL). */
  memLevel?: number;
  /** Bytes per independently deflated block (default 1 MiB; pigz uses 128 KiB). */
  blockSize?: number;
  /** Blocks deflated at once (default 4: more than the cores keeps the pool busy). */
  concurrency?: number;
  /** Also sha256 the input, with the CRC, on a worker thread (end() then returns the digest). */
  digest?: BlockDigest;
}

/**
 * One deflate stream kept for many blocks: each block is deflated from a reset state and ends
 * with Z_SYNC_FLUSH, exactly what a fresh deflateRaw() of the block writes, without a new zlib
 * object, output buffer and result copy per block (their garbage cost the daemon's main thread
 * more than the compression's own dispatch).
 */
class Lane {
  private readonly z: DeflateRaw;
  private out: Buffer[] = [];
  private failed: Error | undefined;

  constructor(level: number, memLevel: number, blockSize: number) {
    // One output buffer holds a whole block's output (and serves several blocks): a smaller one
    // makes each piece a round trip through the main thread, which stalls on a busy host.
    this.z = createDeflateRaw({ level, memLevel, flush: constants.Z_SYNC_FLUSH, chunkSize: blockSize + (64 << 10) });
    this.z.on("data", (b: Buffer) => this.out.push(b));
    this.z.on("error", (e) => (this.failed = e));
  }

  deflate(block: Buffer): Promise<Buffer[]> {
    return new Promise((resolve, reject) => {
      if (this.failed) return reject(this.failed);
      this.z.write(block, (err) => {
        if (err) return reject(err);
        if (this.z.destroyed) return reject(new Error("the compression was abandoned"));
        const out = this.out;
        this.out = [];
        this.z.reset();
        resolve(out);
      });
    });
  }

  close(): void {
    this.z.destroy();
  }
}

/**
 * The block engine without a stream around it: write() input (and await what it returns, which is
 * only set when too many blocks are in flight), end() once (or close() to give up); `emit` gets
 * the output in order. Input is copied into a fixed arena of block slots, reused round robin.
 */
export class GzipBlocks {
  private readonly level: number;
  private readonly memLevel: number;
  private readonly blockSize: number;
  private readonly concurrency: number;
  private readonly lanes: Lane[] = [];
  /** Block slots: one more than the blocks in flight for the one being filled, one for the hashing lag. */
  private readonly slots: number;
  private readonly arena: Buffer;
  /** Bytes in the slot being filled. */
  private fill = 0;
  /** Blocks started so far (the next one's sequence number). */
  private seq = 0;
  /** Blocks being deflated, oldest first; emitted in this order. */
  private readonly inFlight: Promise<Buffer[]>[] = [];
  private crc = 0;
  private size = 0;
  private started = false;
  private readonly digest: BlockDigest | undefined;

  constructor(
    private readonly emit: (b: Buffer) => void,
    o: ParallelGzipOptions = {},
  ) {
    this.digest = o.digest;
    this.level = o.level ?? 1;
    this.memLevel = o.memLevel ?? MEM_LEVEL;
    this.blockSize = o.blockSize ?? 1 << 20;
    this.concurrency = o.concurrency ?? 4;
    this.slots = this.concurrency + 2;
    const shared = new SharedArrayBuffer(this.slots * this.blockSize);
    this.arena = Buffer.from(shared);
    this.digest?.attach(shared, this.slots, this.blockSize);
  }

  /** Takes a chunk (copied: the caller may reuse it); a returned promise asks the caller to wait. */
  write(chunk: Buffer): Promise<void> | undefined {
    if (!this.digest) this.crc = crc32(chunk, this.crc);
    this.size += chunk.length;
    return this.copyIn(chunk);
  }

  private copyIn(chunk: Buffer): Promise<void> | undefined {
    let at = 0;
    while (at < chunk.length) {
      const n = Math.min(this.blockSize - this.fill, chunk.length - at);
      chunk.copy(this.arena, this.slotStart(this.seq) + this.fill, at, at + n);
      this.fill += n;
      at += n;
      if (this.fill === this.blockSize) {
        this.startBlock();
        // The next slot must be free before anything is copied into it.
        if (at < chunk.length || this.mustWait()) {
          const rest = chunk.subarray(at);
          return this.makeRoom().then(() => this.copyIn(rest));
        }
      }
    }
    return undefined;
  }

  /** Flushes the last block and writes the trailer; the input's sha256 when a BlockDigest was given. */
  async end(): Promise<string | undefined> {
    try {
      if (this.fill > 0) this.startBlock();
      while (this.inFlight.length > 0) this.emitBlock(await this.inFlight.shift()!);
      let digest: string | undefined;
      if (this.digest) ({ digest, crc: this.crc } = await this.digest.finish());
      this.emitBlock([deflateRawSync(Buffer.alloc(0), { level: this.level })]); // the final, empty block
      const trailer = Buffer.alloc(8);
      trailer.writeUInt32LE(this.crc >>> 0, 0);
      trailer.writeUInt32LE(this.size % 2 ** 32, 4);
      this.emit(trailer);
      return digest;
    } finally {
      this.closeLanes();
    }
  }

  /** Gives up: the zlib streams and the hashing worker go (safe after end() too). */
  async close(): Promise<void> {
    this.closeLanes();
    await this.digest?.close();
  }

  private closeLanes(): void {
    for (const l of this.lanes.splice(0)) l.close();
  }

  private slotStart(seq: number): number {
    return (seq % this.slots) * this.blockSize;
  }

  /** Whether the slot after the one just started is still busy (deflating or being hashed). */
  private mustWait(): boolean {
    return this.inFlight.length >= this.concurrency || this.digest !== undefined;
  }

  /** Waits until the slot of block `seq` is free: its previous block deflated, emitted and hashed. */
  private async makeRoom(): Promise<void> {
    while (this.inFlight.length >= this.concurrency) this.emitBlock(await this.inFlight.shift()!);
    await this.digest?.hashed(this.seq + 1 - this.slots);
  }

  private startBlock(): void {
    const slot = this.seq % this.slots;
    const data = this.arena.subarray(this.slotStart(this.seq), this.slotStart(this.seq) + this.fill);
    this.digest?.submit(slot, this.fill);
    if (this.lanes.length < this.concurrency) this.lanes.push(new Lane(this.level, this.memLevel, this.blockSize));
    const p = this.lanes[this.seq % this.concurrency]!.deflate(data);
    p.catch(() => undefined); // awaited in order; an early failure must not be unhandled meanwhile
    this.inFlight.push(p);
    this.seq++;
    this.fill = 0;
  }

  private emitBlock(out: Buffer[]): void {
    if (!this.started) {
      this.emit(HEADER);
      this.started = true;
    }
    for (const b of out) this.emit(b);
  }
}

/** GzipBlocks as a Transform stream. */
export class ParallelGzip extends Transform {
  private readonly blocks: GzipBlocks;

  constructor(o: ParallelGzipOptions = {}) {
    super();
    this.blocks = new GzipBlocks((b) => this.push(b), o);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    const wait = this.blocks.write(chunk);
    if (wait) wait.then(() => cb(), cb);
    else cb();
  }

  override _flush(cb: TransformCallback): void {
    this.blocks.end().then(() => cb(), cb);
  }
}
