// Content-addressed blobs on local disk: `<root>/blobs/sha256/<hex>`, written through
// `<root>/ingest/` so a crash or a concurrent writer never leaves a partial blob under its digest.
// Every digest that comes in from outside is validated here, before it becomes part of a path.
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, type ReadStream } from "node:fs";
import { mkdir, open, readdir, rename, rm, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { PassThrough, pipeline, type Readable } from "node:stream";
import { SbxError } from "@sbx-sh/protocol";
import { syncPath } from "../common/files.js";

export interface BlobInfo {
  /** `sha256:<64 lowercase hex>` */
  digest: string;
  size: number;
}

/** What `put` accepts: a readable stream, any async iterable of bytes, a buffer, or `{ file }` (a path to copy from). */
export type BlobSource = Readable | AsyncIterable<Uint8Array> | Uint8Array | { file: string };

const DIGEST_RE = /^sha256:([a-f0-9]{64})$/;

export function isDigest(value: unknown): value is string {
  return typeof value === "string" && DIGEST_RE.test(value);
}

/** Returns the hex part of a digest, or throws invalid_argument: the only gate between user input and a path. */
export function digestHex(digest: string): string {
  const m = typeof digest === "string" ? DIGEST_RE.exec(digest) : null;
  if (!m?.[1])
    throw new SbxError(
      "invalid_argument",
      `invalid digest ${JSON.stringify(digest)}: expected sha256:<64 lowercase hex digits>`,
    );
  return m[1];
}

export class BlobStore {
  readonly root: string;
  private readonly blobDir: string;
  private readonly ingestDir: string;
  private ready: Promise<void> | undefined;

  constructor(root: string) {
    this.root = root;
    this.blobDir = join(root, "blobs", "sha256");
    this.ingestDir = join(root, "ingest");
  }

  private init(): Promise<void> {
    this.ready ??= (async () => {
      await mkdir(this.blobDir, { recursive: true, mode: 0o700 });
      await mkdir(this.ingestDir, { recursive: true, mode: 0o700 });
    })();
    return this.ready;
  }

  /** The file holding a blob (whether or not it exists yet). */
  path(digest: string): string {
    return join(this.blobDir, digestHex(digest));
  }

  /**
   * Stores bytes and returns their digest. Hashes while writing, fsyncs, then renames into place;
   * storing bytes that are already present is a no-op. With `expect`, a mismatch stores nothing.
   */
  async put(source: BlobSource, opts: { expect?: string } = {}): Promise<BlobInfo> {
    if (opts.expect !== undefined) digestHex(opts.expect);
    // Start consuming a Node stream before the first await: Node resumes (and so discards) a child
    // process's unread stdout when the child exits, which a short-lived `zstd -dc` easily does.
    if (isNodeReadable(source)) {
      const pass = new PassThrough({ highWaterMark: 1 << 20 });
      pipeline(source, pass, () => undefined);
      source = pass;
    }
    await this.init();
    const tmp = join(this.ingestDir, `${Date.now()}-${randomBytes(8).toString("hex")}`);
    const hash = createHash("sha256");
    let size = 0;
    const fh = await open(tmp, "wx", 0o600);
    let done = false;
    try {
      for await (const chunk of chunksOf(source)) {
        hash.update(chunk);
        size += chunk.byteLength;
        // A chunk may be written partially; loop until the kernel has taken all of it.
        for (let off = 0; off < chunk.byteLength;) {
          const { bytesWritten } = await fh.write(chunk, off, chunk.byteLength - off);
          off += bytesWritten;
        }
      }
      await fh.sync();
      await fh.close();
      done = true;
      const digest = `sha256:${hash.digest("hex")}`;
      if (opts.expect !== undefined && opts.expect !== digest) {
        throw new SbxError(
          "invalid_argument",
          `content does not match its digest: expected ${opts.expect}, got ${digest}`,
          { expected: opts.expect, actual: digest },
        );
      }
      const final = this.path(digest);
      if (await exists(final)) {
        await unlink(tmp);
        return { digest, size };
      }
      await rename(tmp, final);
      await syncPath(this.blobDir);
      return { digest, size };
    } catch (err) {
      if (!done) await fh.close().catch(() => undefined);
      await rm(tmp, { force: true });
      throw err;
    }
  }

  async has(digest: string): Promise<boolean> {
    return exists(this.path(digest));
  }

  /** Size of a stored blob, or undefined when absent. */
  async stat(digest: string): Promise<BlobInfo | undefined> {
    try {
      const st = await stat(this.path(digest));
      return { digest, size: st.size };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** A stream of the blob's bytes; not_found when absent. The file is opened before returning, so a later delete cannot race it. */
  async open(digest: string): Promise<ReadStream> {
    const p = this.path(digest);
    try {
      const fh = await open(p, "r");
      return fh.createReadStream({ highWaterMark: 1 << 20 });
    } catch (err) {
      if (isNotFound(err)) throw new SbxError("not_found", `blob ${digest} not found`, undefined, { cause: err });
      throw err;
    }
  }

  /** Removes a blob; returns whether it was there. */
  async delete(digest: string): Promise<boolean> {
    try {
      await unlink(this.path(digest));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  async list(): Promise<BlobInfo[]> {
    await this.init();
    const out: BlobInfo[] = [];
    for (const name of await readdir(this.blobDir)) {
      const digest = `sha256:${name}`;
      if (!isDigest(digest)) continue;
      const info = await this.stat(digest);
      if (info) out.push(info);
    }
    return out.sort((a, b) => a.digest.localeCompare(b.digest));
  }

  /** Deletes ingest files left behind by a crash (older than maxAgeMs, so live writers are safe). */
  async cleanIngest(maxAgeMs = 3_600_000): Promise<number> {
    await this.init();
    let n = 0;
    for (const name of await readdir(this.ingestDir)) {
      const p = join(this.ingestDir, name);
      const st = await stat(p).catch(() => undefined);
      if (st && Date.now() - st.mtimeMs > maxAgeMs) {
        await rm(p, { force: true, recursive: true });
        n++;
      }
    }
    return n;
  }
}

async function* chunksOf(source: BlobSource): AsyncGenerator<Uint8Array> {
  if (source instanceof Uint8Array) {
    yield source;
  } else if ("file" in source && typeof source.file === "string") {
    yield* createReadStream(source.file, { highWaterMark: 1 << 20 }) as AsyncIterable<Uint8Array>;
  } else {
    for await (const chunk of source as AsyncIterable<Uint8Array | string>) {
      yield typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    }
  }
}

function isNodeReadable(s: BlobSource): s is Readable {
  return typeof (s as Readable).pipe === "function" && typeof (s as Readable).on === "function";
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === "ENOENT";
}
