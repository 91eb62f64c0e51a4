// The tar writer to tar.ts's reader: header blocks (ustar, with a pax header first when a path, a
// link, an id, a size or an xattr does not fit), the padding after data and the archive's end. The
// export writes every header of a layer here, so fields are written digit by digit, not as strings.
import type { TarHeader, TarType } from "./tar.js";

const FLAGS: Record<TarType, string> = {
  file: "0",
  hardlink: "1",
  symlink: "2",
  char: "3",
  block: "4",
  dir: "5",
  fifo: "6",
};

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from("\n")]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

/** `v` as len - 1 octal digits and a NUL, written digit by digit (no string per field). */
function octal(b: Buffer, off: number, len: number, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0 || v >= 8 ** (len - 1)) {
    // Not for the clamped values written here; what it always wrote (the field's first digits).
    b.write(v.toString(8).padStart(len - 1, "0") + "\0", off, len, "ascii");
    return;
  }
  b[off + len - 1] = 0;
  for (let i = off + len - 2; i >= off; i--) {
    b[i] = 0x30 + (v % 8);
    v = Math.floor(v / 8);
  }
}

function block(
  name: string,
  flag: string,
  h: Pick<TarHeader, "mode" | "uid" | "gid" | "size" | "mtime" | "devmajor" | "devminor">,
  linkpath: string,
): Buffer {
  const b = Buffer.alloc(512);
  b.write(name, 0, 100, "utf8");
  octal(b, 100, 8, h.mode & 0o7777);
  octal(b, 108, 8, h.uid);
  octal(b, 116, 8, h.gid);
  octal(b, 124, 12, h.size);
  octal(b, 136, 12, Math.max(0, Math.floor(h.mtime)));
  b.write(flag, 156, 1, "ascii");
  b.write(linkpath, 157, 100, "utf8");
  b.write("ustar\x0000", 257, 8, "ascii");
  octal(b, 329, 8, h.devmajor);
  octal(b, 337, 8, h.devminor);
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += b[i]!;
  b.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, 8, "ascii");
  return b;
}

/** The header block(s) of one entry: a pax header first when a path, an id or an xattr needs it. */
export function encodeHeader(h: TarHeader): Buffer {
  const records: Buffer[] = [];
  const fits = (s: string): boolean => Buffer.byteLength(s) <= 100 && /^[\x20-\x7e]*$/.test(s);
  if (!fits(h.path)) records.push(paxRecord("path", Buffer.from(h.path)));
  if (!fits(h.linkpath)) records.push(paxRecord("linkpath", Buffer.from(h.linkpath)));
  const big = (v: number, max: number): boolean => v > max;
  if (big(h.uid, 0o7777777)) records.push(paxRecord("uid", Buffer.from(String(h.uid))));
  if (big(h.gid, 0o7777777)) records.push(paxRecord("gid", Buffer.from(String(h.gid))));
  if (big(h.size, 0o77777777777)) records.push(paxRecord("size", Buffer.from(String(h.size))));
  for (const [k, v] of Object.entries(h.xattrs).sort(([a], [b]) => (a < b ? -1 : 1)))
    records.push(paxRecord(`SCHILY.xattr.${k}`, v));
  const clamp = {
    ...h,
    uid: Math.min(h.uid, 0o7777777),
    gid: Math.min(h.gid, 0o7777777),
    size: Math.min(h.size, 0o77777777777),
  };
  const main = block(h.path.slice(0, 100), FLAGS[h.type], clamp, h.linkpath.slice(0, 100));
  if (!records.length) return main;
  const data = Buffer.concat(records);
  const paxHeader = block(
    "PaxHeaders/" + h.path.slice(0, 80).replace(/[^\x20-\x7e]/g, "_"),
    "x",
    { mode: 0o644, uid: 0, gid: 0, size: data.length, mtime: h.mtime, devmajor: 0, devminor: 0 },
    "",
  );
  return Buffer.concat([paxHeader, data, padding(data.length), main]);
}

const ZEROS = Buffer.alloc(512);

/** The zeros after `size` bytes of data, up to the next 512: a view of one shared block, never to be written to. */
export function padding(size: number): Buffer {
  return ZEROS.subarray(0, (512 - (size % 512)) % 512);
}

/** Two zero blocks: the end of an archive. */
export const TAR_END = Buffer.alloc(1024);
