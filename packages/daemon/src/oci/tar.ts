// A small streaming tar reader (ustar + pax), binary-safe for xattrs. node-tar drops pax xattr
// records, and OCI layers need them (opaque dirs, file capabilities), so both export and import
// read tar here (and write it with tar-write.ts), entry by entry, without ever touching the disk.
import { SbxError } from "@sbx-sh/protocol";

export type TarType = "file" | "hardlink" | "symlink" | "char" | "block" | "dir" | "fifo";

export interface TarHeader {
  path: string;
  type: TarType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkpath: string;
  devmajor: number;
  devminor: number;
  xattrs: Record<string, Buffer>;
}

export interface TarEntry {
  header: TarHeader;
  /** The entry's data; read it (or not) before asking for the next entry. */
  body(): AsyncGenerator<Buffer>;
}

const TYPES: Record<string, TarType> = {
  "0": "file",
  "\0": "file",
  "7": "file",
  "1": "hardlink",
  "2": "symlink",
  "3": "char",
  "4": "block",
  "5": "dir",
  "6": "fifo",
};

/** Buffered reads of exact sizes from an async byte source. */
class Bytes {
  private bufs: Buffer[] = [];
  private len = 0;
  constructor(private readonly it: AsyncIterator<Buffer | Uint8Array | string>) {}

  async fill(n: number): Promise<boolean> {
    while (this.len < n) {
      const r = await this.it.next();
      if (r.done) return false;
      const b = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as Uint8Array);
      this.bufs.push(b);
      this.len += b.length;
    }
    return true;
  }

  async take(n: number): Promise<Buffer> {
    if (!(await this.fill(n))) throw bad("the archive ends in the middle of an entry");
    const all = this.bufs.length === 1 ? this.bufs[0]! : Buffer.concat(this.bufs);
    this.bufs = all.length > n ? [all.subarray(n)] : [];
    this.len -= n;
    return all.subarray(0, n);
  }

  /** Up to max bytes, at least one. */
  async chunk(max: number): Promise<Buffer> {
    if (this.len === 0 && !(await this.fill(1))) throw bad("the archive ends in the middle of an entry");
    const b = this.bufs[0]!;
    if (b.length <= max) {
      this.bufs.shift();
      this.len -= b.length;
      return b;
    }
    this.bufs[0] = b.subarray(max);
    this.len -= max;
    return b.subarray(0, max);
  }
}

function bad(why: string): SbxError {
  return new SbxError("invalid_archive", `not a valid tar archive: ${why}`);
}

function str(b: Buffer, off: number, len: number): string {
  const s = b.subarray(off, off + len);
  const nul = s.indexOf(0);
  return (nul >= 0 ? s.subarray(0, nul) : s).toString("utf8");
}

function num(b: Buffer, off: number, len: number): number {
  if (b[off]! & 0x80) {
    // base-256 (GNU): big-endian, first byte's top bit is the marker.
    let v = b[off]! & 0x7f;
    for (let i = off + 1; i < off + len; i++) v = v * 256 + b[i]!;
    return v;
  }
  // What tars write (spaces, octal digits, spaces, then NUL or the field's end) read from the bytes, with
  // no string, trim or regex per field; anything else takes the general path, which says what is wrong.
  const end = off + len;
  let i = off;
  while (i < end && b[i] === 0x20) i++;
  let v = 0;
  for (; i < end && b[i]! >= 0x30 && b[i]! <= 0x37; i++) v = v * 8 + (b[i]! - 0x30);
  while (i < end && b[i] === 0x20) i++;
  if (i === end || b[i] === 0) return v;
  const s = str(b, off, len).trim();
  if (s === "") return 0;
  if (!/^[0-7]+$/.test(s)) throw bad(`bad number field ${JSON.stringify(s)}`);
  return parseInt(s, 8);
}

function parsePax(data: Buffer, into: Record<string, Buffer>): void {
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    if (sp < 0) throw bad("bad pax record");
    const len = parseInt(data.subarray(i, sp).toString(), 10);
    if (!Number.isInteger(len) || len <= 0 || i + len > data.length) throw bad("bad pax record length");
    const rec = data.subarray(sp + 1, i + len - 1);
    const eq = rec.indexOf(0x3d);
    if (eq < 0) throw bad("bad pax record");
    into[rec.subarray(0, eq).toString("utf8")] = rec.subarray(eq + 1);
    i += len;
  }
}

/** What pax ('x') and GNU long-name ('L', 'K') entries say about the next real entry. */
export interface TarMeta {
  pax: Record<string, Buffer>;
  longName?: string;
  longLink?: string;
  /** Metadata bytes since the last real entry: chained pax entries may not grow memory without bound. */
  bytes?: number;
}

export type HeaderBlock =
  { kind: "end" } | { kind: "meta"; flag: "x" | "g" | "L" | "K"; size: number } | { kind: "entry"; header: TarHeader };

/** Bytes of data (padded to 512) that follow a header of this size. */
export function padded(size: number): number {
  return Math.ceil(size / 512) * 512;
}

/** One 512-byte header block: the end marker, a metadata entry, or a real entry with `meta` applied (and reset). */
export function decodeHeader(h: Buffer, meta: TarMeta): HeaderBlock {
  let zero = true;
  for (let i = 0; i < 512; i++)
    if (h[i] !== 0) {
      zero = false;
      break;
    }
  if (zero) return { kind: "end" };
  // The checksum field itself counts as eight spaces (two plain loops: no test per byte).
  let sum = 8 * 32;
  for (let i = 0; i < 148; i++) sum += h[i]!;
  for (let i = 156; i < 512; i++) sum += h[i]!;
  if (sum !== num(h, 148, 8)) throw bad("header checksum mismatch (corrupt or not a tar)");
  const flag = String.fromCharCode(h[156]!);
  const size = num(h, 124, 12);
  if (flag === "x" || flag === "g" || flag === "L" || flag === "K") {
    if (size > 16 << 20) throw bad("oversized metadata entry");
    return { kind: "meta", flag, size };
  }
  const type = TYPES[flag];
  if (!type)
    throw new SbxError(
      "invalid_archive",
      `tar entry ${JSON.stringify(str(h, 0, 100))} has unsupported type ${JSON.stringify(flag)}`,
    );
  const prefix = str(h, 345, 155);
  const { pax, longName, longLink } = meta;
  const xattrs: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(pax)) if (k.startsWith("SCHILY.xattr.")) xattrs[k.slice(13)] = Buffer.from(v);
  const header: TarHeader = {
    path: pax.path?.toString("utf8") ?? longName ?? (prefix ? `${prefix}/${str(h, 0, 100)}` : str(h, 0, 100)),
    type,
    mode: num(h, 100, 8) & 0o7777,
    uid: pax.uid ? Number(pax.uid.toString()) : num(h, 108, 8),
    gid: pax.gid ? Number(pax.gid.toString()) : num(h, 116, 8),
    size: pax.size ? Number(pax.size.toString()) : size,
    mtime: Math.floor(pax.mtime ? Number(pax.mtime.toString()) : num(h, 136, 12)),
    linkpath: pax.linkpath?.toString("utf8") ?? longLink ?? str(h, 157, 100),
    devmajor: num(h, 329, 8),
    devminor: num(h, 337, 8),
    xattrs,
  };
  meta.pax = {};
  meta.longName = meta.longLink = undefined;
  meta.bytes = 0;
  if (!Number.isSafeInteger(header.size) || header.size < 0) throw bad(`entry ${header.path} has a bad size`);
  return { kind: "entry", header };
}

/** Applies the data of a metadata entry to `meta`. */
export function applyMeta(flag: "x" | "g" | "L" | "K", data: Buffer, meta: TarMeta): void {
  meta.bytes = (meta.bytes ?? 0) + data.length;
  if (meta.bytes > 16 << 20) throw bad("oversized metadata before an entry");
  if (flag === "x") parsePax(data, meta.pax);
  else if (flag === "L") meta.longName = str(data, 0, data.length);
  else if (flag === "K") meta.longLink = str(data, 0, data.length);
}

/** Entries of a tar stream, pax and GNU long names applied. Ends at the first zero block or EOF. */
export async function* readTar(src: AsyncIterable<Buffer | Uint8Array | string>): AsyncGenerator<TarEntry> {
  const bytes = new Bytes(src[Symbol.asyncIterator]());
  const meta: TarMeta = { pax: {} };
  for (;;) {
    if (!(await bytes.fill(512))) return;
    const block = decodeHeader(await bytes.take(512), meta);
    if (block.kind === "end") return;
    if (block.kind === "meta") {
      applyMeta(block.flag, (await bytes.take(padded(block.size))).subarray(0, block.size), meta);
      continue;
    }
    const header = block.header;
    const dataSize = header.type === "file" ? header.size : 0;
    let remain = dataSize;
    async function* body(): AsyncGenerator<Buffer> {
      while (remain > 0) {
        const c = await bytes.chunk(Math.min(remain, 1 << 20));
        remain -= c.length;
        yield c;
      }
    }
    yield { header, body };
    while (remain > 0) remain -= (await bytes.chunk(Math.min(remain, 1 << 20))).length;
    const pad = padded(dataSize) - dataSize;
    if (pad) await bytes.take(pad);
  }
}
