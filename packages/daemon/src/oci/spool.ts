// Where a compressed layer waits until its size and digest are known (an archive's tar header and
// a registry's upload both need them before the data): in memory up to a limit, then in a temp
// file. The file is removed by discard() or by moveTo() taking it over; both are safe to repeat.
import { createReadStream, createWriteStream, type WriteStream } from "node:fs";
import { rename, rm, writeFile } from "node:fs/promises";
import { once } from "node:events";
import type { Readable } from "node:stream";

/** Bytes a spool's file write may have queued before write() asks the producer to wait. */
const FILE_BUFFER = 4 << 20;

/** Memory shared by the spools of every export at once, so many exports cannot exhaust it. */
export class MemoryBudget {
  private used = 0;
  constructor(readonly limit: number) {}
  take(n: number): boolean {
    if (this.used + n > this.limit) return false;
    this.used += n;
    return true;
  }
  give(n: number): void {
    this.used -= n;
  }
  get inUse(): number {
    return this.used;
  }
}

export interface SpoolOptions {
  /** Where the file goes if the data outgrows memory. */
  path: string;
  /** Bytes kept in memory before the data moves to the file (0: straight to the file). */
  memoryLimit: number;
  /** Shared memory the in-memory part also counts against (none: only memoryLimit applies). */
  budget?: MemoryBudget;
}

export class Spool {
  private chunks: Buffer[] = [];
  private bytes = 0;
  private file: WriteStream | undefined;
  private fileDone: Promise<void> | undefined;
  private gone = false;
  /** discard() was called: later writes are dropped. */
  private discarded = false;
  /** Bytes held in memory, taken from the budget. */
  private held = 0;

  constructor(private readonly o: SpoolOptions) {}

  get size(): number {
    return this.bytes;
  }

  /** Takes a chunk; the promise (when one is returned) is the file asking to be waited for. */
  write(b: Buffer): Promise<void> | undefined {
    // A block that was still being compressed when the export was abandoned: nothing to keep, and
    // no file to make (it would be left behind: discard() has run).
    if (this.discarded) return undefined;
    this.bytes += b.length;
    if (!this.file && this.bytes <= this.o.memoryLimit && (this.o.budget?.take(b.length) ?? true)) {
      this.chunks.push(b);
      this.held += b.length;
      return undefined;
    }
    if (!this.file) {
      // A few MiB buffered before the producer is asked to wait: the writes go through the thread
      // pool, behind the compression's blocks; with the default 16 KiB every chunk of a blob would wait for
      // its write.
      this.file = createWriteStream(this.o.path, { flags: "wx", mode: 0o600, highWaterMark: FILE_BUFFER });
      this.fileDone = once(this.file, "close").then(() => undefined);
      // An error is reported by end() (or ignored after discard()).
      this.fileDone.catch(() => undefined);
      for (const c of this.chunks) this.file.write(c);
      this.release();
    }
    return this.file.write(b) ? undefined : once(this.file, "drain").then(() => undefined);
  }

  /** All data written: the file (if any) is flushed and closed. */
  async end(): Promise<void> {
    if (!this.file) return;
    this.file.end();
    await this.fileDone; // rejects on a write error
  }

  /** The data, once end() has returned. */
  read(): Readable | Buffer[] {
    return this.file ? createReadStream(this.o.path, { highWaterMark: 1 << 20 }) : this.chunks;
  }

  /** Puts the data at `path` (renaming the file when there is one) and forgets it. */
  async moveTo(path: string): Promise<void> {
    if (this.file) {
      await rename(this.o.path, path);
      this.gone = true;
    } else {
      await writeFile(path, this.chunks);
    }
    this.release();
  }

  private release(): void {
    this.chunks = [];
    this.o.budget?.give(this.held);
    this.held = 0;
  }

  async discard(): Promise<void> {
    this.discarded = true;
    this.release();
    if (!this.file || this.gone) return;
    this.gone = true;
    this.file.destroy();
    await this.fileDone?.catch(() => undefined);
    await rm(this.o.path, { force: true });
  }
}
