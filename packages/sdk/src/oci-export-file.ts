// An image export written into a file, in the patched form (@sbx-sh/protocol patched-tar.ts): a
// layer no export has compressed yet arrives as it is compressed, and its tar header, which needs
// the blob's size and digest, is written into the hole kept for it once it comes. The daemon then
// need not hold the whole blob back first. The file is written under a temp name beside `path`
// and moved into place only when the stream ended well (replace-file.ts: without the writeback a
// rename over the old file forces): a broken, hostile or failed export leaves nothing behind. A
// daemon that answers with the plain tar is written as it comes.
import { randomBytes } from "node:crypto";
import { open, rm, type FileHandle } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { HOLE_SIZE, PATCHED_TAR_MEDIA, PatchedTarDecoder, SbxError, apiPath } from "@sbx-sh/protocol";
import { brokenOffAsSbxError } from "./ndjson.js";
import { recoverAside, replaceFile } from "./replace-file.js";
import type { Body, Transport } from "./transport.js";
import { parseErrorBody } from "./transport.js";

export interface ExportFileOptions {
  signal?: AbortSignal;
  /** Called with counts of tar bytes as they arrive, for progress (a part cut back and sent again counts twice). */
  onBytes?: (n: number) => void;
}

/** Data gathered before one write: fewer, larger writes. */
const BATCH = 1 << 20;

/** Writes the image (`name[:tag]` or a base image) as an OCI layout tar at `path`; answers its size. */
export async function exportImageToFile(
  t: Transport,
  name: string,
  path: string,
  o: ExportFileOptions = {},
): Promise<number> {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.part`);
  // An old file a killed export left aside goes back first, so that this one failing keeps it too.
  await recoverAside(path);
  // The file first: a target that cannot be written fails before the daemon starts compressing.
  let fh: FileHandle | undefined = await open(temp, "wx", 0o644).catch((err: Error) => {
    throw new SbxError("invalid_argument", `cannot write ${path}: ${err.message}`, undefined, { cause: err });
  });
  let body: Body | undefined;
  try {
    body = await t.stream("GET", apiPath("imageOci", { name }), { query: { form: "patched" }, signal: o.signal });
    const size =
      body.headers["content-type"] === PATCHED_TAR_MEDIA
        ? await writePatched(body, fh, o.onBytes)
        : await writePlain(body, fh, o.onBytes);
    await fh.close();
    fh = undefined;
    await replaceFile(temp, path);
    return size;
  } catch (err) {
    body?.destroy();
    await fh?.close().catch(() => undefined);
    await rm(temp, { force: true });
    throw err;
  }
}

async function writePlain(body: Body, fh: FileHandle, onBytes?: (n: number) => void): Promise<number> {
  let pos = 0;
  for await (const c of brokenOffAsSbxError(body as AsyncIterable<Buffer>)) {
    await writeAll(fh, [c], pos);
    pos += c.length;
    onBytes?.(c.length);
  }
  return pos;
}

/** Applies the records: data appended (in batches), holes skipped, patches and cuts where they say. */
async function writePatched(body: Body, fh: FileHandle, onBytes?: (n: number) => void): Promise<number> {
  const decoder = new PatchedTarDecoder();
  let pos = 0;
  let batch: Buffer[] = [];
  let batchAt = 0;
  let batchBytes = 0;
  const flush = async (): Promise<void> => {
    if (!batch.length) return;
    await writeAll(fh, batch, batchAt);
    onBytes?.(batchBytes);
    batch = [];
    batchBytes = 0;
  };
  for await (const chunk of brokenOffAsSbxError(body as AsyncIterable<Buffer>)) {
    for (const op of decoder.push(chunk)) {
      if (op.op === "data") {
        if (!batch.length) batchAt = pos;
        batch.push(op.bytes);
        batchBytes += op.bytes.length;
        pos += op.bytes.length;
        continue;
      }
      await flush();
      if (op.op === "hole") pos = op.offset + HOLE_SIZE;
      else if (op.op === "patch") {
        await writeAll(fh, [op.bytes], op.offset);
        onBytes?.(op.bytes.length);
      } else if (op.op === "cut") {
        await fh.truncate(op.offset);
        pos = op.offset;
      } else if (op.op === "error")
        throw parseErrorBody(op.json) ?? new SbxError("internal", "sbxd failed the export without saying why");
    }
    if (batchBytes >= BATCH) await flush();
  }
  decoder.finish();
  await flush();
  return pos;
}

/** Writes `bufs` at `at`, again from where a short write stopped. */
async function writeAll(fh: FileHandle, bufs: Buffer[], at: number): Promise<void> {
  let rest = bufs;
  while (rest.length) {
    const total = rest.reduce((n, b) => n + b.length, 0);
    const { bytesWritten } = await fh.writev(rest, at);
    if (bytesWritten === total) return;
    at += bytesWritten;
    let skip = bytesWritten;
    const next: Buffer[] = [];
    for (const b of rest) {
      if (skip >= b.length) skip -= b.length;
      else {
        next.push(b.subarray(skip));
        skip = 0;
      }
    }
    rest = next;
  }
}
