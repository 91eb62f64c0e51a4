// TarCheck passes an upload through unchanged and fails it with invalid_archive when it is not a
// whole tar or tar.gz archive, before the stream ends.
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { writeTar } from "../runtime/testing/memory-tar.js";
import { TarCheck } from "./tar-check.js";

async function through(data: Buffer, chunkSize = 100): Promise<{ out: Buffer; entries: number }> {
  const check = new TarCheck();
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(c: Buffer, _e, done) {
      chunks.push(c);
      done();
    },
  });
  // Many small chunks, as a network body arrives.
  const parts = Array.from({ length: Math.ceil(data.length / chunkSize) }, (_, i) =>
    data.subarray(i * chunkSize, (i + 1) * chunkSize),
  );
  await pipeline(Readable.from(parts), check, sink);
  return { out: Buffer.concat(chunks), entries: check.entries };
}

describe("TarCheck", () => {
  const tar = writeTar([
    { name: "d", type: "directory" },
    { name: "d/a.txt", type: "file", data: Buffer.from("A".repeat(1000)) },
  ]);

  it("passes tar and tar.gz through unchanged and counts their entries", async () => {
    expect(await through(tar)).toEqual({ out: tar, entries: 2 });
    const gz = gzipSync(tar);
    expect(await through(gz)).toEqual({ out: gz, entries: 2 });
  });

  it("ignores what follows the end of the archive, however much, without parsing it", async () => {
    const trailing = Buffer.concat([tar, Buffer.alloc(64 * 1024 * 1024)]);
    const started = performance.now();
    expect((await through(trailing, 1024 * 1024)).entries).toBe(2);
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it("fails what is not a whole archive with invalid_archive", async () => {
    for (const bad of [Buffer.from("this is not a tar archive at all"), Buffer.alloc(0), tar.subarray(0, 1536)])
      await expect(through(bad)).rejects.toMatchObject({ code: "invalid_archive" });
  });
});
