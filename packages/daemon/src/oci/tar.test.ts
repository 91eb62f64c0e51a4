// The tar reader and header writer: what one writes the other (and GNU tar) reads back, long
// names, big ids and binary xattrs included; corrupt headers are refused.
import { spawnSync } from "node:child_process";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { encodeHeader, padding, readTar, TAR_END, type TarHeader } from "./tar.js";

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

  it("refuses a header whose checksum does not match", async () => {
    const bad = Buffer.from(archive);
    bad[10] = bad[10]! ^ 0xff;
    await expect(read(bad)).rejects.toThrow(/checksum/);
  });

  it("refuses an archive cut in the middle of an entry", async () => {
    await expect(read(archive.subarray(0, 512 * 2 + 100))).rejects.toThrow(/ends in the middle/);
  });
});
