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
        file.out.write(Buffer.concat(chunks), done);
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
  const head = Buffer.concat(chunks).subarray(0, 512);
  if (!file) {
    const whole = Buffer.concat(chunks);
    return { head, open: () => Readable.from([whole]), release: async () => undefined };
  }
  const path = file.path;
  return { head, open: () => createReadStream(path), release: () => rm(path, { force: true }) };
}
