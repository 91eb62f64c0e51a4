// unpackLayer against real GNU tar: a layer with much data after its end marker (tars pad to their
// record size; `tar -b` makes that as large as it likes) unpacks, although tar exits on reading the
// marker while the rest is still being read for the digest; and a tar that fails says why in tar's
// own words, not as a broken pipe (a stand-in tar that exits early).
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tarOf } from "./testing/craft.js";
import { unpackLayer } from "./unpack.js";

const isRoot = process.getuid?.() === 0;
const sha = (b: Buffer): string => `sha256:${createHash("sha256").update(b).digest("hex")}`;

describe.runIf(isRoot)("unpackLayer", () => {
  let root: string;
  let n = 0;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "sbx-unpack-"));
  });
  afterAll(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  /** Writes `plain` gzipped as a blob and unpacks it into a fresh dir. */
  async function unpack(plain: Buffer, diffId = sha(plain)): Promise<string> {
    const gz = gzipSync(plain);
    const path = join(root, `blob-${++n}`);
    await writeFile(path, gz);
    const dest = join(root, `out-${n}`);
    await unpackLayer({ path, digest: sha(gz), size: gz.length, compression: "gzip", diffId }, dest, 0);
    return dest;
  }

  it("unpacks a layer padded far past its end marker, every time", async () => {
    // What tar is fed ends on its 10 KiB record (header, 17 blocks of data, end marker), so it has
    // all it reads and exits; 16 MiB of zeros follow the marker, read long after that.
    const data = "padded\n".padEnd(17 * 512, "#");
    const plain = Buffer.concat([tarOf([{ path: "opt/marker", data }]), Buffer.alloc(16 << 20)]);
    for (let i = 0; i < 5; i++) {
      const dest = await unpack(plain);
      expect(await readFile(join(dest, "opt/marker"), "utf8")).toBe(data);
    }
  });

  it("still checks the bytes after the end marker against the diff id", async () => {
    const plain = Buffer.concat([tarOf([{ path: "a", data: "x" }]), Buffer.alloc(1 << 20)]);
    const other = Buffer.concat([tarOf([{ path: "a", data: "x" }]), Buffer.alloc(2 << 20)]);
    await expect(unpack(plain, sha(other))).rejects.toMatchObject({
      code: "invalid_archive",
      message: expect.stringMatching(/but the config's diff_id is/),
    });
  });

  it("says what tar said when tar fails, not that a pipe broke", async () => {
    // A tar that gives up early (as GNU tar does on a full disk): a stand-in first on PATH.
    const bin = join(root, "bin");
    await mkdir(bin);
    await writeFile(join(bin, "tar"), "#!/bin/sh\nhead -c 512 >/dev/null\necho 'tar: out of disk' >&2\nexit 2\n", {
      mode: 0o755,
    });
    const path = process.env.PATH;
    process.env.PATH = `${bin}:${path}`;
    try {
      const plain = tarOf([{ path: "big", data: "x".repeat(8 << 20) }]);
      await expect(unpack(plain)).rejects.toMatchObject({
        code: "runtime_error",
        message: expect.stringMatching(/cannot unpack layer sha256:[0-9a-f]{64}: tar exited with 2: tar: out of disk$/),
      });
    } finally {
      process.env.PATH = path;
    }
  });
});
