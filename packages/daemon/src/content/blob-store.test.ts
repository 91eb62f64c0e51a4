// Unit tests of the local blob store: digests, dedupe, atomic ingest, and rejection of bad digests.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SbxError } from "@sbx-sh/protocol";
import { BlobStore, digestHex, isDigest } from "./blob-store.js";

const sha = (b: Buffer | string): string => `sha256:${createHash("sha256").update(b).digest("hex")}`;

async function readAll(s: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

describe("BlobStore", () => {
  let dir: string;
  let store: BlobStore;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "sbx-blobs-"));
    store = new BlobStore(dir);
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("stores a buffer under its sha256 and reads it back", async () => {
    const data = Buffer.from("hello blobs\n");
    const info = await store.put(data);
    expect(info).toEqual({ digest: sha(data), size: data.length });
    expect(await store.has(info.digest)).toBe(true);
    expect(store.path(info.digest)).toBe(join(dir, "blobs", "sha256", digestHex(info.digest)));
    expect(await readFile(store.path(info.digest))).toEqual(data);
    expect(await readAll(await store.open(info.digest))).toEqual(data);
  });

  it("hashes streams and files, across many chunks", async () => {
    const chunks = Array.from({ length: 50 }, (_, i) => Buffer.alloc(100_000, i));
    const all = Buffer.concat(chunks);
    const fromStream = await store.put(Readable.from(chunks));
    expect(fromStream).toEqual({ digest: sha(all), size: all.length });
    const f = join(dir, "input.bin");
    await writeFile(f, all);
    expect(await store.put({ file: f })).toEqual(fromStream);
    async function* gen(): AsyncGenerator<Uint8Array> {
      yield new Uint8Array([1, 2]);
      yield new Uint8Array([3]);
    }
    expect((await store.put(gen())).digest).toBe(sha(Buffer.from([1, 2, 3])));
  });

  it("keeps every byte of a short-lived child process's stdout", async () => {
    // Node discards a child's unread stdout when the child exits; put must start reading at once.
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        store.put(spawn("printf", ["hello from a child"], { stdio: ["ignore", "pipe", "ignore"] }).stdout),
      ),
    );
    for (const r of results) expect(r).toEqual({ digest: sha("hello from a child"), size: 18 });
  });

  it("dedupes identical content and leaves no ingest files behind", async () => {
    const a = await store.put(Buffer.from("same"));
    const b = await store.put(Readable.from([Buffer.from("sa"), Buffer.from("me")]));
    expect(b).toEqual(a);
    expect(await readdir(join(dir, "ingest"))).toEqual([]);
    expect(await store.list()).toEqual([a]);
  });

  it("stores the empty blob", async () => {
    const info = await store.put(Buffer.alloc(0));
    expect(info).toEqual({ digest: sha(""), size: 0 });
  });

  it("verifies an expected digest and stores nothing on mismatch", async () => {
    const data = Buffer.from("abc");
    await expect(store.put(data, { expect: sha(data) })).resolves.toEqual({ digest: sha(data), size: 3 });
    await expect(store.put(Buffer.from("abd"), { expect: sha(data) })).rejects.toMatchObject({
      code: "invalid_argument",
    });
    expect((await store.list()).map((b) => b.digest)).toEqual([sha(data)]);
    expect(await readdir(join(dir, "ingest"))).toEqual([]);
  });

  it("cleans up the ingest file when the source stream fails", async () => {
    async function* broken(): AsyncGenerator<Uint8Array> {
      yield Buffer.from("partial");
      throw new Error("source broke");
    }
    await expect(store.put(broken())).rejects.toThrow("source broke");
    await expect(store.put(Readable.from(broken()))).rejects.toThrow("source broke");
    expect(await readdir(join(dir, "ingest"))).toEqual([]);
    expect(await store.list()).toEqual([]);
  });

  it("deletes and lists", async () => {
    const a = await store.put(Buffer.from("a"));
    const b = await store.put(Buffer.from("b"));
    expect((await store.list()).map((x) => x.digest).sort()).toEqual([a.digest, b.digest].sort());
    expect(await store.delete(a.digest)).toBe(true);
    expect(await store.delete(a.digest)).toBe(false);
    expect(await store.has(a.digest)).toBe(false);
    expect(await store.stat(b.digest)).toEqual(b);
    expect(await store.stat(a.digest)).toBeUndefined();
    await expect(store.open(a.digest)).rejects.toMatchObject({ code: "not_found" });
  });

  it("ignores foreign files in the blob dir when listing", async () => {
    const a = await store.put(Buffer.from("x"));
    await writeFile(join(dir, "blobs", "sha256", "not-a-digest"), "junk");
    expect(await store.list()).toEqual([a]);
  });

  const bad = [
    "",
    "sha256:",
    "sha256:../../etc/passwd",
    `sha256:${"A".repeat(64)}`,
    `sha256:${"a".repeat(63)}`,
    `sha256:${"a".repeat(65)}`,
    `sha512:${"a".repeat(64)}`,
    `sha256:${"a".repeat(63)}/`,
    `sha256:${"a".repeat(64)}\n`,
    "a".repeat(64),
  ];
  it.each(bad)("rejects the malformed digest %j everywhere", async (d) => {
    expect(isDigest(d)).toBe(false);
    expect(() => store.path(d)).toThrow(SbxError);
    await expect(store.has(d)).rejects.toMatchObject({ code: "invalid_argument" });
    await expect(store.open(d)).rejects.toMatchObject({ code: "invalid_argument" });
    await expect(store.delete(d)).rejects.toMatchObject({ code: "invalid_argument" });
    await expect(store.stat(d)).rejects.toMatchObject({ code: "invalid_argument" });
    await expect(store.put(Buffer.from("x"), { expect: d })).rejects.toMatchObject({ code: "invalid_argument" });
  });

  it("handles concurrent puts of the same content", async () => {
    const data = Buffer.alloc(300_000, 7);
    const results = await Promise.all(Array.from({ length: 8 }, () => store.put(Readable.from([data]))));
    for (const r of results) expect(r).toEqual({ digest: sha(data), size: data.length });
    expect(await store.list()).toHaveLength(1);
    expect(await readdir(join(dir, "ingest"))).toEqual([]);
  });
});
