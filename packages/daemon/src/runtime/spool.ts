// Uploads held until they have fully arrived: a file write or archive extraction must change
// nothing in the sandbox when its stream fails half-way (413, invalid archive, client gone), yet
// must not hold a gigabyte in memory. Small uploads stay in memory; bigger ones spill to a file.
import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream, type WriteStream } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";

/** Kept in memory up to this size; beyond it, written to the spool dir. */
const IN_MEMORY_BYTES = 4 * 1024 * 1024;
/** A spill file's read size. */
const READ_BYTES = 1024 * 1024;
/** How much of the start is kept apart to sniff the format. */
const HEAD_BYTES = 512;

export interface Spooled {
  /** The first bytes (up to 512), to sniff the format. */
  head: Buffer;
  /** A fresh stream of the whole upload; call once. */
  open(): Readable;
  /** Removes the spill file, if any. */
  release(): Promise<void>;
}

/** Reads `input` to its end; rejects with the stream's own error (and leaves nothing behind) if it fails. */
export async function spool(input: Readable, dir: string): Promise<Spooled> {
  const chunks: Buffer[] = [];
  let size = 0;
  let file: { path: string; out: WriteStream } | undefined;
  let head: Buffer | undefined;
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      if (file) return void file.out.write(chunk, done);
      chunks.push(chunk);
      size += chunk.length;
      if (size <= IN_MEMORY_BYTES) return done();
      mkdir(dir, { recursive: true, mode: 0o700 }).then(() => {
        const path = join(dir, `upload-${randomBytes(6).toString("hex")}`);
        file = { path, out: createWriteStream(path, { mode: 0o600 }) };
        file.out.on("error", (err) => sink.destroy(err));
        // The chunks so far go to the file as they are (no copy into one buffer), and leave memory.
        const held = chunks.splice(0);
        held.forEach((c, i) => file!.out.write(c, i === held.length - 1 ? done : undefined));
        head = firstBytes(held);
      }, done);
    },
    final(done) {
      if (!file) return done();
      file.out.end(done);
    },
  });
  try {
    await pipeline(input, sink);
  } catch (err) {
    if (file) {
      file.out.destroy();
      await rm(file.path, { force: true });
    }
    throw err;
  }
  if (!file) return { head: firstBytes(chunks), open: () => Readable.from(chunks), release: async () => undefined };
  const path = file.path;
  // Read back in large pieces: its reader sends them on in requests of up to 1 MiB (agent-files.ts).
  return {
    head: head!,
    open: () => createReadStream(path, { highWaterMark: READ_BYTES }),
    release: () => rm(path, { force: true }),
  };
}

/** The first HEAD_BYTES of `chunks`, in a buffer of their own (a view would keep a whole chunk alive). */
function firstBytes(chunks: Buffer[]): Buffer {
  const out: Buffer[] = [];
  let n = 0;
  for (const c of chunks) {
    if (n >= HEAD_BYTES) break;
    out.push(c.subarray(0, HEAD_BYTES - n));
    n += Math.min(c.length, HEAD_BYTES - n);
  }
  return Buffer.concat(out, n);
}
