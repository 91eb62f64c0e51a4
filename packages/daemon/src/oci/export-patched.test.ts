// The patched export form against the plain one: applied as a client writing a file would apply
// it, it gives the plain form's bytes, for first-time layers (streamed after a header hole), a
// layer sent twice in one image (its second copy cut back), a blob too big for its hole (cut back
// and sent from its spool), and layers from the cache; it leaves the same cache entries behind.
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HOLE_SIZE, PatchedTarDecoder } from "@sbx-sh/protocol";
import { BlobCache } from "./blob-cache.js";
import { BlobMemo } from "./blob-memo.js";
import { SPOOL_MEMORY, type ExportSource } from "./export.js";
import { exportArchive, type ArchiveOptions } from "./export-archive.js";
import { makeLayers } from "./testing/layers-fixture.js";

const isRoot = process.getuid?.() === 0;

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** The records applied to a buffer; also counts what the stream asked for. */
async function applied(stream: Readable): Promise<{ out: Buffer; holes: number; cuts: number; error?: string }> {
  const d = new PatchedTarDecoder();
  let out = Buffer.alloc(0);
  let holes = 0;
  let cuts = 0;
  let error: string | undefined;
  for await (const c of stream)
    for (const o of d.push(c as Buffer)) {
      if (o.op === "data") out = Buffer.concat([out, o.bytes]);
      else if (o.op === "hole") {
        holes++;
        out = Buffer.concat([out, Buffer.alloc(HOLE_SIZE)]);
      } else if (o.op === "patch") o.bytes.copy(out, o.offset);
      else if (o.op === "cut") {
        cuts++;
        out = out.subarray(0, o.offset);
      } else if (o.op === "error") error = o.json;
    }
  d.finish();
  return { out, holes, cuts, error };
}

describe.runIf(isRoot)("OCI export, patched form", () => {
  let root: string;
  let src: ExportSource;
  let n = 0;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "sbx-ocipatch-"));
    src = makeLayers(root);
  });
  afterAll(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });
  const opts = (more: Partial<ArchiveOptions> = {}): ArchiveOptions => ({
    tmpDir: join(root, `spool-${n++}`),
    memo: new BlobMemo(),
    ...more,
  });

  it("gives the plain form's bytes for first-time layers, a repeated layer and a blob too big for its hole", async () => {
    const plain = await collect(await exportArchive(src, opts()));
    for (const memoryLimit of [undefined, 0]) {
      const p = await applied(await exportArchive(src, opts({ form: "patched", memoryLimit })));
      expect(p.out.equals(plain)).toBe(true);
      expect([p.holes, p.cuts]).toEqual([2, 0]);
    }
    // The base layer twice: the archive holds its blob once, the second copy is cut back.
    const twice = { ...src, layers: [src.layers[0]!, src.layers[1]!, src.layers[0]!] };
    const plainTwice = await collect(await exportArchive(twice, opts()));
    const p2 = await applied(await exportArchive(twice, opts({ form: "patched" })));
    expect(p2.out.equals(plainTwice)).toBe(true);
    expect([p2.holes, p2.cuts]).toEqual([3, 1]);
    // Blobs past the stream limit: each is cut back and sent whole from its spool.
    const p3 = await applied(await exportArchive(src, opts({ form: "patched", streamLimit: 100 })));
    expect(p3.out.equals(plain)).toBe(true);
    expect([p3.holes, p3.cuts]).toEqual([2, 2]);
  });

  it("fills the cache like the plain form, and sends from it after", async () => {
    const cache = new BlobCache(join(root, "cache"), 1 << 30);
    const plain = await collect(await exportArchive(src, opts()));
    const first = await applied(await exportArchive(src, opts({ form: "patched", cache })));
    await cache.idle();
    expect(first.out.equals(plain)).toBe(true);
    expect((await readdir(cache.dir)).filter((f) => f.endsWith(".gz")).length).toBe(src.layers.length);
    const again = await applied(await exportArchive(src, opts({ form: "patched", cache })));
    expect(again.out.equals(plain)).toBe(true);
    expect(again.holes).toBe(0);
  });

  it("writes a first-time layer's cache copy to its spool file as it is made, holding no spool memory", async () => {
    const cache = new BlobCache(join(root, "cache-file"), 1 << 30);
    const o = opts({ form: "patched", cache });
    const held = SPOOL_MEMORY.inUse;
    const d = new PatchedTarDecoder();
    let inBlob = false;
    let checked = false;
    const chunks: Buffer[] = [];
    for await (const c of await exportArchive(src, o)) {
      chunks.push(c as Buffer);
      for (const op of d.push(c as Buffer)) {
        if (op.op === "hole") inBlob = true;
        else if (op.op === "data" && inBlob && !checked) {
          // Inside the first layer's blob: its spool is a file already (the next layer's may be
          // too: it is made ahead), and no memory is taken.
          checked = true;
          expect(SPOOL_MEMORY.inUse).toBe(held);
          expect((await readdir(o.tmpDir)).length).toBeGreaterThanOrEqual(1);
        }
      }
    }
    d.finish();
    expect(checked).toBe(true);
    await cache.idle();
    expect((await readdir(cache.dir)).filter((f) => f.endsWith(".gz")).length).toBe(src.layers.length);
    // The entries are whole: the next export sends them, byte for byte the plain form.
    const plain = await collect(await exportArchive(src, opts()));
    const again = await applied(await exportArchive(src, opts({ form: "patched", cache })));
    expect(again.out.equals(plain)).toBe(true);
    expect(again.holes).toBe(0);
  });

  it("gives back its spool files and memory and caches nothing when the reader leaves inside a layer", async () => {
    const until = async (ok: () => Promise<boolean>): Promise<boolean> => {
      for (let i = 0; i < 200 && !(await ok()); i++) await new Promise((r) => setTimeout(r, 25));
      return ok();
    };
    const held = SPOOL_MEMORY.inUse;
    for (const memoryLimit of [0, 64 << 20]) {
      const cache = new BlobCache(join(root, `cache-left-${memoryLimit}`), 1 << 30);
      const o = opts({ form: "patched", memoryLimit, cache });
      const d = new PatchedTarDecoder();
      let inBlob = false;
      // Leaves once the first layer's blob bytes arrive (after its hole): its spool has begun.
      read: for await (const c of await exportArchive(src, o))
        for (const op of d.push(c as Buffer)) {
          if (op.op === "hole") inBlob = true;
          else if (op.op === "data" && inBlob) break read;
        }
      expect(inBlob).toBe(true);
      expect(await until(async () => (await readdir(o.tmpDir)).length === 0)).toBe(true);
      expect(await until(async () => SPOOL_MEMORY.inUse === held)).toBe(true);
      await cache.idle();
      expect((await readdir(cache.dir).catch(() => [])).filter((f) => f.endsWith(".gz"))).toEqual([]);
    }
  });

  it("ends with an error record, no cut stream, when a layer cannot be read", async () => {
    const bad = { ...src, layers: [src.layers[0]!, { dir: join(root, "missing"), uidBase: 0 }] };
    const p = await applied(await exportArchive(bad, opts({ form: "patched" })));
    expect(JSON.parse(p.error!).error).toMatchObject({ code: "runtime_error", message: /cannot read layer/ });
  });
});
