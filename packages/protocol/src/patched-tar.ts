// The "patched" form of an image export (GET /v1/images/{name}/oci?form=patched): the same OCI
// layout tar as the plain form, framed in records so that a tar header can come after the data it
// describes. A layer no export has compressed before needs its blob's size and digest in its tar
// header; in this form the daemon reserves the header's 512 bytes (a hole), streams the blob as it
// is compressed, then fills the hole. A client writing into a file applies the records and gets
// the plain form's bytes without the daemon holding the whole blob back first.
//
// A stream: MAGIC, then records, each a type byte:
//   D len(u32) bytes     append `len` bytes (1..MAX_DATA_RECORD)
//   H                    reserve HOLE_SIZE bytes at the current offset
//   P offset(u48) bytes  fill the reserved hole at `offset` with its HOLE_SIZE bytes (once)
//   C offset(u48)        cut the output back to `offset`, the last hole reserved and still open: the
//                        hole and all after it go (a blob that turned out to be sent already, or
//                        whose header outgrew the hole, is then sent again, header first)
//   E size(u48)          the end: the output is `size` bytes, every hole filled; nothing follows
//   X len(u32) json      the export failed: `{error:{code,message}}` (len ≤ MAX_ERROR_RECORD); nothing follows
// The decoder trusts nothing: unknown records, oversized lengths, a patch anywhere but an open hole,
// holes left open, a wrong size and a stream cut before its end are errors.
import { SbxError } from "./errors.js";

export const PATCHED_TAR_MEDIA = "application/vnd.sbx.patched-tar";
export const PATCHED_TAR_MAGIC = Buffer.from("sbx-patched-tar/1\n");
export const HOLE_SIZE = 512;
/** The most bytes one D record carries (the encoder splits bigger chunks). */
export const MAX_DATA_RECORD = 8 << 20;
export const MAX_ERROR_RECORD = 64 << 10;
/** Holes reserved and not yet filled at once (an export has one per layer it streams at a time). */
export const MAX_OPEN_HOLES = 1024;

const T = { data: 0x44, hole: 0x48, patch: 0x50, cut: 0x43, end: 0x45, error: 0x58 } as const;

/** Writes records; tracks the output offset so that holes are named by it. */
export class PatchedTarEncoder {
  private offset = 0;
  private readonly open = new Set<number>();
  private lastHole = -1;

  /** The stream's first bytes. */
  start(): Buffer {
    return PATCHED_TAR_MAGIC;
  }

  /** Records appending `b` (its bytes are not copied). */
  data(b: Buffer): Buffer[] {
    const out: Buffer[] = [];
    for (let at = 0; at < b.length; at += MAX_DATA_RECORD) {
      const piece = b.subarray(at, at + MAX_DATA_RECORD);
      const head = Buffer.allocUnsafe(5);
      head[0] = T.data;
      head.writeUInt32BE(piece.length, 1);
      out.push(head, piece);
      this.offset += piece.length;
    }
    return out;
  }

  /** A hole at the current offset; fill(offset, bytes) fills it later. */
  hole(): { offset: number; record: Buffer } {
    const offset = this.offset;
    this.open.add(offset);
    this.lastHole = offset;
    this.offset += HOLE_SIZE;
    return { offset, record: Buffer.from([T.hole]) };
  }

  /** Drops the hole at `offset` (the last one reserved) and everything written after it. */
  cut(offset: number): Buffer {
    if (offset !== this.lastHole || !this.open.delete(offset)) throw new Error(`no last open hole at ${offset}`);
    this.offset = offset;
    this.lastHole = -1;
    const r = Buffer.allocUnsafe(7);
    r[0] = T.cut;
    r.writeUIntBE(offset, 1, 6);
    return r;
  }

  fill(offset: number, bytes: Buffer): Buffer {
    if (bytes.length !== HOLE_SIZE || !this.open.delete(offset))
      throw new Error(`no open hole at ${offset} for ${bytes.length} bytes`);
    const r = Buffer.allocUnsafe(7 + HOLE_SIZE);
    r[0] = T.patch;
    r.writeUIntBE(offset, 1, 6);
    bytes.copy(r, 7);
    return r;
  }

  end(): Buffer {
    if (this.open.size) throw new Error(`${this.open.size} holes left open`);
    const r = Buffer.allocUnsafe(7);
    r[0] = T.end;
    r.writeUIntBE(this.offset, 1, 6);
    return r;
  }

  /** The failure record: `{error}` JSON, cut to fit. */
  error(err: { code: string; message: string }): Buffer {
    const json = Buffer.from(
      JSON.stringify({ error: { code: err.code, message: err.message.slice(0, MAX_ERROR_RECORD / 8) } }),
    );
    const head = Buffer.allocUnsafe(5);
    head[0] = T.error;
    head.writeUInt32BE(json.length, 1);
    return Buffer.concat([head, json]);
  }
}

/** What a stream asks of its writer, in order. */
export type PatchedTarOp =
  | { op: "data"; bytes: Buffer }
  | { op: "hole"; offset: number }
  | { op: "patch"; offset: number; bytes: Buffer }
  | { op: "cut"; offset: number }
  | { op: "end"; size: number }
  | { op: "error"; json: string };

function broken(why: string): SbxError {
  return new SbxError("internal", `sbxd sent a broken export stream: ${why}`);
}

/** Reads a stream chunk by chunk into ops, checking every record against what came before. */
export class PatchedTarDecoder {
  private magicSeen = 0;
  private offset = 0;
  private readonly open = new Set<number>();
  /** The last hole reserved, while nothing cut it: the only place a cut may go back to. */
  private lastHole = -1;
  /** Bytes of the D record being passed on. */
  private dataLeft = 0;
  /** A record's fixed part being collected (type byte first), and how long it must get. */
  private pending: Buffer | undefined;
  private pendingFill = 0;
  private done = false;

  /** The ops in `chunk` (data ops are slices of it, not copies). */
  push(chunk: Buffer): PatchedTarOp[] {
    const ops: PatchedTarOp[] = [];
    let at = 0;
    while (at < chunk.length) {
      if (this.done) throw broken("bytes after its end");
      if (this.magicSeen < PATCHED_TAR_MAGIC.length) {
        const n = Math.min(PATCHED_TAR_MAGIC.length - this.magicSeen, chunk.length - at);
        if (!chunk.subarray(at, at + n).equals(PATCHED_TAR_MAGIC.subarray(this.magicSeen, this.magicSeen + n)))
          throw broken("it does not start as one");
        this.magicSeen += n;
        at += n;
        continue;
      }
      if (this.dataLeft > 0) {
        const n = Math.min(this.dataLeft, chunk.length - at);
        ops.push({ op: "data", bytes: chunk.subarray(at, at + n) });
        this.dataLeft -= n;
        this.offset += n;
        at += n;
        continue;
      }
      if (!this.pending) {
        const type = chunk[at]!;
        const need = fixedLength(type);
        if (need === undefined) throw broken(`unknown record type 0x${type.toString(16)}`);
        this.pending = Buffer.alloc(need);
        this.pendingFill = 0;
      }
      const n = Math.min(this.pending.length - this.pendingFill, chunk.length - at);
      chunk.copy(this.pending, this.pendingFill, at, at + n);
      this.pendingFill += n;
      at += n;
      if (this.pendingFill === this.pending.length) {
        const op = this.record(this.pending);
        if (op) ops.push(op);
      }
    }
    return ops;
  }

  /** The stream ended: throws unless its end record came. */
  finish(): void {
    if (!this.done) throw broken("it was cut off before its end");
  }

  /** A complete fixed part: the op, or none when it only announces data (or an error body still to come). */
  private record(r: Buffer): PatchedTarOp | undefined {
    this.pending = undefined;
    switch (r[0]) {
      case T.data: {
        const len = r.readUInt32BE(1);
        if (len === 0 || len > MAX_DATA_RECORD) throw broken(`a data record of ${len} bytes`);
        this.dataLeft = len;
        return undefined;
      }
      case T.hole: {
        if (this.open.size >= MAX_OPEN_HOLES) throw broken(`more than ${MAX_OPEN_HOLES} holes open`);
        const offset = this.offset;
        this.open.add(offset);
        this.lastHole = offset;
        this.offset += HOLE_SIZE;
        return { op: "hole", offset };
      }
      case T.cut: {
        const offset = r.readUIntBE(1, 6);
        if (offset !== this.lastHole || !this.open.delete(offset))
          throw broken(`a cut at ${offset}, which is not the last hole open`);
        this.offset = offset;
        this.lastHole = -1;
        return { op: "cut", offset };
      }
      case T.patch: {
        const offset = r.readUIntBE(1, 6);
        if (!this.open.delete(offset)) throw broken(`a patch at ${offset}, where no hole is open`);
        return { op: "patch", offset, bytes: r.subarray(7) };
      }
      case T.end: {
        const size = r.readUIntBE(1, 6);
        if (this.open.size) throw broken(`${this.open.size} holes never filled`);
        if (size !== this.offset) throw broken(`an end at ${size} bytes after ${this.offset}`);
        this.done = true;
        return { op: "end", size };
      }
      case T.error: {
        if (r.length === 5) {
          const len = r.readUInt32BE(1);
          if (len > MAX_ERROR_RECORD) throw broken(`an error record of ${len} bytes`);
          // The body is collected as the rest of this record.
          this.pending = Buffer.alloc(5 + len);
          r.copy(this.pending);
          this.pendingFill = 5;
          if (len > 0) return undefined;
          this.pending = undefined;
        }
        this.done = true;
        return { op: "error", json: r.subarray(5).toString("utf8") };
      }
    }
    return undefined;
  }
}

/** The fixed length of a record's first part (an error record's body is read after it). */
function fixedLength(type: number): number | undefined {
  switch (type) {
    case T.data:
    case T.error:
      return 5;
    case T.hole:
      return 1;
    case T.patch:
      return 7 + HOLE_SIZE;
    case T.cut:
    case T.end:
      return 7;
  }
  return undefined;
}
