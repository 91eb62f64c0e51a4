// gzip on several cores for one stream, the way pigz does it: the input is cut into blocks, each
// block is deflated on its own in zlib's thread pool (several at once) and ends on a byte boundary
// (Z_SYNC_FLUSH), and the pieces are written in order between one gzip header and one trailer
// (CRC-32 and size of the whole input). Any gunzip reads it as one member. Deterministic for a
// given level and block size, so an export's digests are stable.
import { Transform, type TransformCallback } from "node:stream";
import { constants, crc32, deflateRaw, deflateRawSync } from "node:zlib";
import { BlockDigest } from "./block-digest.js";

const HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0x03]);

export interface ParallelGzipOptions {
  level?: number;
  /** Bytes per independently deflated block (default 1 MiB; pigz uses 128 KiB). */
  blockSize?: number;
  /** Blocks deflated at once (default 4: more than the cores keeps the pool busy). */
  concurrency?: number;
  /** Also sha256 the input, with the CRC, on a worker thread (end() then returns the digest). */
  digest?: BlockDigest;
}

function deflateBlock(data: Buffer, level: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    // One output chunk for the whole block: with smaller ones each piece is a round trip through
    // the main thread, and a busy main thread then stalls the compression between pieces.
    deflateRaw(data, { level, finishFlush: constants.Z_SYNC_FLUSH, chunkSize: data.length + (64 << 10) }, (err, out) =>
      err ? reject(err) : resolve(out),
    ),
  );
}

/**
 * The block engine without a stream around it: write() input (and await what it returns, which is
 * only set when too many blocks are in flight), end() once; `emit` gets the output in order.
 */
export class GzipBlocks {
  private readonly level: number;
  private readonly blockSize: number;
  private readonly concurrency: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Blocks being deflated, oldest first; emitted in this order. */
  private readonly inFlight: Promise<Buffer>[] = [];
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
    this.blockSize = o.blockSize ?? 1 << 20;
    this.concurrency = o.concurrency ?? 4;
  }

  write(chunk: Buffer): Promise<void> | undefined {
    if (!this.digest) this.crc = crc32(chunk, this.crc);
    this.size += chunk.length;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    return this.pendingBytes >= this.blockSize ? this.drainFull() : undefined;
  }

  /** Flushes the last block and writes the trailer; the input's sha256 when a BlockDigest was given. */
  async end(): Promise<string | undefined> {
    if (this.pendingBytes > 0) this.startBlock(this.join(this.pendingBytes));
    this.pending = [];
    this.pendingBytes = 0;
    while (this.inFlight.length > 0) this.emitBlock(await this.inFlight.shift()!);
    let digest: string | undefined;
    if (this.digest) ({ digest, crc: this.crc } = await this.digest.finish());
    this.emitBlock(deflateRawSync(Buffer.alloc(0), { level: this.level })); // the final, empty block
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(this.crc >>> 0, 0);
    trailer.writeUInt32LE(this.size % 2 ** 32, 4);
    this.emit(trailer);
    return digest;
  }

  /** The first n pending bytes as one buffer (in shared memory when a worker hashes it). */
  private join(n: number): Buffer {
    if (!this.digest) return Buffer.concat(this.pending, n);
    const out = BlockDigest.alloc(n);
    let at = 0;
    for (const p of this.pending) {
      if (at >= n) break;
      at += p.copy(out, at, 0, Math.min(p.length, n - at));
    }
    return out;
  }

  /** Starts a block per full blockSize of input; waits for the oldest when too many are in flight. */
  private async drainFull(): Promise<void> {
    while (this.pendingBytes >= this.blockSize) {
      this.startBlock(this.join(this.blockSize));
      // What the block did not take: the tail of the piece it ended in, and the pieces after.
      let skip = this.blockSize;
      const rest: Buffer[] = [];
      for (const p of this.pending) {
        if (skip >= p.length) skip -= p.length;
        else {
          rest.push(skip > 0 ? p.subarray(skip) : p);
          skip = 0;
        }
      }
      this.pending = rest;
      this.pendingBytes -= this.blockSize;
      while (this.inFlight.length >= this.concurrency) this.emitBlock(await this.inFlight.shift()!);
    }
  }

  private startBlock(data: Buffer): void {
    this.digest?.block(data);
    const p = deflateBlock(data, this.level);
    p.catch(() => undefined); // awaited in order; an early failure must not be unhandled meanwhile
    this.inFlight.push(p);
  }

  private emitBlock(out: Buffer): void {
    if (!this.started) {
      this.emit(HEADER);
      this.started = true;
    }
    this.emit(out);
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
