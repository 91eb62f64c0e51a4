// Tar archives to and from memory, for test doubles: FakeRuntime's archives and layer exports, and
// the conformance suite's uploads. Writes ustar (pax headers for long names); reads
// with the `tar` package, which is what the daemon itself validates uploads with.
import { gunzipSync } from "node:zlib";
import { Parser } from "tar";

export interface TarEntry {
  /** Relative name, directories without a trailing slash. */
  name: string;
  type: "file" | "directory" | "symlink" | "hardlink" | "chardev";
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  data?: Buffer;
  linkname?: string;
  /** Written as pax SCHILY.xattr records (what GNU tar reads back); not reported by readTar. */
  xattrs?: Record<string, string>;
}

const TYPEFLAG: Record<TarEntry["type"], string> = {
  file: "0",
  hardlink: "1",
  symlink: "2",
  chardev: "3",
  directory: "5",
};

function field(buf: Buffer, offset: number, length: number, value: string): void {
  buf.write(value, offset, length, "utf8");
}

function octal(buf: Buffer, offset: number, length: number, value: number): void {
  field(buf, offset, length, value.toString(8).padStart(length - 1, "0") + "\0");
}

function header(name: string, typeflag: string, size: number, e: Partial<TarEntry>): Buffer {
  const h = Buffer.alloc(512);
  field(h, 0, 100, name);
  octal(h, 100, 8, (e.mode ?? (typeflag === "5" ? 0o755 : 0o644)) & 0o7777);
  octal(h, 108, 8, e.uid ?? 0);
  octal(h, 116, 8, e.gid ?? 0);
  octal(h, 124, 12, size);
  octal(h, 136, 12, e.mtime ?? 0);
  h.fill(" ", 148, 156);
  field(h, 156, 1, typeflag);
  field(h, 157, 100, e.linkname ?? "");
  field(h, 257, 6, "ustar\0");
  field(h, 263, 2, "00");
  octal(h, 329, 8, 0);
  octal(h, 337, 8, 0);
  let sum = 0;
  for (const b of h) sum += b;
  field(h, 148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
  return h;
}

function padded(data: Buffer): Buffer[] {
  const rest = data.length % 512;
  return rest === 0 ? [data] : [data, Buffer.alloc(512 - rest)];
}

function paxRecords(records: Record<string, string>): Buffer {
  let out = "";
  for (const [k, v] of Object.entries(records)) {
    const body = ` ${k}=${v}\n`;
    let len = body.length + 1;
    while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
    out += `${len}${body}`;
  }
  return Buffer.from(out, "utf8");
}

export function writeTar(entries: TarEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const name = e.type === "directory" ? `${e.name}/` : e.name;
    const pax: Record<string, string> = {};
    if (Buffer.byteLength(name) > 99) pax.path = name;
    if (e.linkname && Buffer.byteLength(e.linkname) > 99) pax.linkpath = e.linkname;
    for (const [k, v] of Object.entries(e.xattrs ?? {})) pax[`SCHILY.xattr.${k}`] = v;
    if (Object.keys(pax).length > 0) {
      const body = paxRecords(pax);
      blocks.push(header("PaxHeader", "x", body.length, {}), ...padded(body));
    }
    const data = e.type === "file" ? (e.data ?? Buffer.alloc(0)) : Buffer.alloc(0);
    blocks.push(header(name.slice(0, 99), TYPEFLAG[e.type], data.length, e), ...padded(data));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

/** Every entry of a tar or tar.gz, in order; rejects on anything the strict parser refuses. */
export function readTar(archive: Buffer): Promise<TarEntry[]> {
  const raw = archive.length > 2 && archive[0] === 0x1f && archive[1] === 0x8b ? gunzipSync(archive) : archive;
  return new Promise((resolve, reject) => {
    const out: TarEntry[] = [];
    const parser = new Parser({
      strict: true,
      onReadEntry: (entry) => {
        const chunks: Buffer[] = [];
        entry.on("data", (c: Buffer) => chunks.push(c));
        entry.on("end", () => {
          const type =
            entry.type === "Directory"
              ? "directory"
              : entry.type === "SymbolicLink"
                ? "symlink"
                : entry.type === "Link"
                  ? "hardlink"
                  : entry.type === "CharacterDevice"
                    ? "chardev"
                    : "file";
          out.push({
            name: entry.path.replace(/^\.\//, "").replace(/\/$/, ""),
            type,
            mode: entry.mode,
            uid: entry.uid,
            gid: entry.gid,
            data: Buffer.concat(chunks),
            linkname: entry.linkpath || undefined,
          });
        });
      },
    });
    parser.on("warn", (code: string, message: string) => reject(new Error(`${code}: ${message}`)));
    parser.on("error", reject);
    parser.on("end", () => resolve(out));
    parser.end(raw);
  });
}
