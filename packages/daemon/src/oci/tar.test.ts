// The tar reader and header writer: what one writes the other (and GNU tar) reads back, long
// names, big ids and binary xattrs included; corrupt headers are refused.
import { spawnSync } from "node:child_process";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { readTar, type TarHeader } from "./tar.js";
import { encodeHeader, padding, TAR_END } from "./tar-write.js";

function entry(h: Partial<TarHeader> & { path: string }, data = ""): Buffer[] {
  const full: TarHeader = {
    type: "file",
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: Buffer.byteLength(data),
    mtime: 1_700_000_000,
    linkpath: "",
    devmajor: 0,
    devminor: 0,
    xattrs: {},
    ...h,
  };
  return [encodeHeader(full), Buffer.from(data), padding(full.size)];
}

async function read(buf: Buffer): Promise<Array<TarHeader & { data: string }>> {
  const out: Array<TarHeader & { data: string }> = [];
  // Tiny chunks: headers and bodies cross chunk boundaries.
  const chunks = Array.from({ length: Math.ceil(buf.length / 100) }, (_, i) => buf.subarray(i * 100, i * 100 + 100));
  for await (const e of readTar(Readable.from(chunks))) {
    let data = "";
    for await (const c of e.body()) data += c.toString();
    out.push({ ...e.header, data });
  }
  return out;
}

describe("tar", () => {
  const long = `very/${"long-name/".repeat(20)}file.txt`;
  const xattr = Buffer.from([0, 1, 2, 0x3d, 0x0a, 255]);
  const archive = Buffer.concat([
    ...entry({ path: "dir", type: "dir", mode: 0o755 }),
    ...entry({ path: long, uid: 100_000_000, gid: 7, xattrs: { "security.capability": xattr } }, "hello"),
    ...entry({ path: "link", type: "symlink", linkpath: `/${"t/".repeat(70)}target` }),
    ...entry({ path: "dev", type: "char", devmajor: 0, devminor: 0, mode: 0 }),
    TAR_END,
  ]);

  it("reads back what it writes, across chunk boundaries", async () => {
    const got = await read(archive);
    expect(got.map((e) => [e.path, e.type])).toEqual([
      ["dir", "dir"],
      [long, "file"],
      ["link", "symlink"],
      ["dev", "char"],
    ]);
    expect(got[1]).toMatchObject({ data: "hello", uid: 100_000_000, gid: 7 });
    expect(got[1]!.xattrs["security.capability"]).toEqual(xattr);
    expect(got[2]!.linkpath).toBe(`/${"t/".repeat(70)}target`);
  });

  it("writes archives GNU tar lists the same way", () => {
    const r = spawnSync("tar", ["--numeric-owner", "-tvf", "-"], { input: archive, encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(long);
    expect(r.stdout).toMatch(/100000000\/7/);
  });

  it("writes its number fields as zero-padded octal, each ended by a NUL", () => {
    const [h] = entry({ path: "f", mode: 0o4755, uid: 1000, gid: 0o7777777, mtime: 1_700_000_000 }, "hi");
    const field = (off: number, len: number): string => h!.subarray(off, off + len).toString("latin1");
    expect(field(100, 8)).toBe("0004755\0");
    expect(field(108, 8)).toBe("0001750\0");
    expect(field(116, 8)).toBe("7777777\0");
    expect(field(124, 12)).toBe("00000000002\0");
    expect(field(136, 12)).toBe(`${(1_700_000_000).toString(8).padStart(11, "0")}\0`);
    expect(field(329, 16)).toBe("0000000\x000000000\0");
  });

  it("reads number fields as tars write them (spaces around the digits, NUL or space after, base-256)", async () => {
    const [h, data, pad] = entry({ path: "f", mode: 0o644, mtime: 1_700_000_000 }, "hi");
    const b = Buffer.from(h!);
    const set = (off: number, bytes: string | number[]): void => {
      (typeof bytes === "string" ? Buffer.from(bytes, "latin1") : Buffer.from(bytes)).copy(b, off);
    };
    set(100, "  755 \0\0"); // mode
    set(108, "1750\0xyz"); // uid: what follows the NUL is ignored
    set(116, [0x80, 0, 0, 0, 0, 0x01, 0x86, 0xa0]); // gid 100000, base-256
    set(124, "00000000002 "); // size: no NUL at all
    set(329, "        "); // devmajor: blank is 0
    const checksum = (): void => {
      b.fill(0x20, 148, 156);
      let sum = 0;
      for (const x of b) sum += x;
      set(148, `${sum.toString(8).padStart(6, "0")}\0 `);
    };
    checksum();
    const [got] = await read(Buffer.concat([b, data!, pad!, TAR_END]));
    expect(got).toMatchObject({ mode: 0o755, uid: 1000, gid: 100000, size: 2, data: "hi", devmajor: 0 });
    expect(got!.mtime).toBe(1_700_000_000);
    for (const bad of ["0008\0\0\0\0", " 7 7\0\0\0\0", "7x\0\0\0\0\0\0"]) {
      set(116, bad);
      checksum();
      await expect(read(Buffer.concat([b, data!, pad!, TAR_END]))).rejects.toThrow(/bad number field/);
    }
  });

  it("refuses a header whose checksum does not match", async () => {
    const bad = Buffer.from(archive);
    bad[10] = bad[10]! ^ 0xff;
    await expect(read(bad)).rejects.toThrow(/checksum/);
  });

  it("refuses an archive cut in the middle of an entry", async () => {
    await expect(read(archive.subarray(0, 512 * 2 + 100))).rejects.toThrow(/ends in the middle/);
  });
});
