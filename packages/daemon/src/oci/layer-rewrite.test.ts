// OciLayerRewrite (the export's synchronous tar rewrite) writes exactly what the entry-by-entry
// path (readTar → overlayToOci → encodeHeader) writes, however its input is cut into chunks.
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OciLayerRewrite } from "./layer-rewrite.js";
import { readTar } from "./tar.js";
import { encodeHeader, padding, TAR_END } from "./tar-write.js";
import { makeLayers, sh, UID } from "./testing/layers-fixture.js";
import { overlayToOci } from "./whiteouts.js";

const isRoot = process.getuid?.() === 0;

function gnuTar(dir: string): Buffer {
  const r = spawnSync(
    "tar",
    [
      "--sort=name",
      "--numeric-owner",
      "--xattrs",
      "--xattrs-include=trusted.overlay.opaque",
      "--xattrs-include=user.*",
    ].concat(["--pax-option=delete=atime,delete=ctime,delete=mtime", "-C", dir, "-cf", "-", "."]),
    { maxBuffer: 1 << 26 },
  );
  if (r.status !== 0) throw new Error(r.stderr.toString());
  return r.stdout;
}

async function reference(tar: Buffer): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const e of readTar(Readable.from([tar]))) {
    for (const h of overlayToOci(e.header, UID)) {
      out.push(encodeHeader(h));
      if (h.type === "file" && h.size > 0) {
        for await (const c of e.body()) out.push(c);
        out.push(padding(h.size));
      }
    }
  }
  out.push(TAR_END);
  return Buffer.concat(out);
}

/** `reuse`: each chunk comes in one scratch buffer, overwritten after the call (as the export reads tar). */
function rewrite(tar: Buffer, cut: (i: number) => number, reuse = false): Buffer {
  const r = new OciLayerRewrite(UID);
  const out: Buffer[] = [];
  const scratch = Buffer.alloc(reuse ? tar.length : 0);
  for (let i = 0, n = 0; i < tar.length; n++) {
    const len = Math.max(1, cut(n));
    let chunk = tar.subarray(i, i + len);
    if (reuse) chunk = scratch.subarray(0, tar.copy(scratch, 0, i, i + len));
    out.push(...r.write(chunk).map((b) => (reuse ? Buffer.from(b) : b)));
    if (reuse) scratch.fill(0xaa);
    i += len;
  }
  r.end();
  return Buffer.concat(out);
}

describe.runIf(isRoot)("OciLayerRewrite", () => {
  let root: string;
  const tars: Buffer[] = [];
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "sbx-rewrite-"));
    const src = makeLayers(root);
    // Long names (pax path records), an xattr, and data that is not a multiple of 512 bytes.
    const deep = join(src.layers[0]!.dir, "d".repeat(90), "e".repeat(90));
    mkdirSync(deep, { recursive: true });
    writeFileSync(join(deep, "f".repeat(120)), Buffer.alloc(70_001, 3));
    sh("setfattr", ["-n", "user.note", "-v", "kept", join(deep, "f".repeat(120))]);
    for (const l of src.layers) tars.push(gnuTar(l.dir));
  });
  afterAll(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  it("matches the entry-by-entry rewrite whole, byte by byte and in odd chunks", async () => {
    for (const tar of tars) {
      const want = await reference(tar);
      expect(want.includes(Buffer.from("SCHILY.xattr.user.note")) || tar === tars[1]).toBe(true);
      expect(rewrite(tar, () => tar.length).equals(want)).toBe(true);
      expect(rewrite(tar, () => 1).equals(want)).toBe(true);
      expect(rewrite(tar, (n) => [511, 513, 7, 4096, 100_000][n % 5]!).equals(want)).toBe(true);
      // The input buffer reused: nothing of a chunk may be kept past its write().
      expect(rewrite(tar, (n) => [511, 513, 7, 4096, 100_000][n % 5]!, true).equals(want)).toBe(true);
      expect(rewrite(tar, () => 1, true).equals(want)).toBe(true);
      expect(rewrite(tar, () => 512, true).equals(want)).toBe(true); // a pax entry's data, then its header
    }
  });

  it("refuses a stream that ends before the archive's end marker", () => {
    const r = new OciLayerRewrite(UID);
    r.write(tars[0]!.subarray(0, 2048));
    expect(() => r.end()).toThrow(/ended early/);
  });
});
