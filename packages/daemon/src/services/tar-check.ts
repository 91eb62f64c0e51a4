// Uploads are checked to be whole tar archives (or gzip-compressed ones) as they stream through
// to the runtime: the stream ends only once the archive parsed cleanly, and fails with
// invalid_archive otherwise, so the runtime (which applies nothing from a failed stream) never
// unpacks half an archive or something that is not one.
import { Readable, Transform, Writable, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Parser } from "tar";
import { SbxError } from "@sbx-sh/protocol";

export class TarCheck extends Transform {
  /** Entries seen so far; the total once the stream has ended. */
  entries = 0;
  private problem: string | undefined;
  /** The archive ended, or is known to be bad: the rest passes through unparsed. */
  private done = false;
  private readonly parser: Parser;
  private readonly settled: Promise<void>;

  constructor() {
    super();
    this.parser = new Parser({
      strict: true,
      onReadEntry: (e) => {
        this.entries++;
        e.resume();
      },
    });
    // What follows the end-of-archive blocks is ignored, as tar itself ignores it; it is not even
    // parsed (the parser would hold it all in one growing buffer: a 1 GiB upload of zeros crawled).
    this.parser.on("eof", () => (this.done = true));
    this.parser.on("warn", (code: string, message: string) => (this.problem ??= `${code}: ${message}`));
    this.parser.on("error", (e: Error) => (this.problem ??= e.message));
    this.settled = new Promise((resolve) => {
      this.parser.on("end", resolve);
      this.parser.on("close", resolve);
    });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    if (!this.done && this.problem === undefined) this.parser.write(chunk);
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    this.parser.end();
    void this.settled.then(() => {
      if (this.problem || this.entries === 0)
        done(
          new SbxError(
            "invalid_archive",
            `the upload is not a valid tar archive (${this.problem ?? "no entries"}): send a tar or tar.gz stream`,
          ),
        );
      else done();
    });
  }
}

/** Parses a whole archive (tar or tar.gz) held in memory; throws invalid_archive. */
export async function validateTar(tarball: Buffer): Promise<number> {
  const check = new TarCheck();
  const discard = new Writable({ write: (_chunk, _enc, done) => done() });
  await pipeline(Readable.from([tarball]), check, discard);
  return check.entries;
}
