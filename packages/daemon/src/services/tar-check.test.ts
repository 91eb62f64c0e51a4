// TarCheck passes an upload through unchanged and fails it with invalid_archive when it is not a
// whole tar or tar.gz archive, before the stream ends.
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Writable } from "node:stream";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { writeTar } from "../runtime/testing/memory-tar.js";
import { TarCheck } from "./tar-check.js";

async function through(data: Buffer): Promise<{ out: Buffer; entries: number }> {
  const check = new TarCheck();
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(c: Buffer, _e, done) {
      chunks.push(c);
      done();
    },
  });
  // Many small chunks, as a network body arrives.
  const parts = Array.from({ length: Math.ceil(data.length / 100) }, (_, i) => data.subarray(i * 100, i * 100 + 100));
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

  it("fails what is not a whole archive with invalid_archive", async () => {
    for (const bad of [Buffer.from("this is not a tar archive at all"), Buffer.alloc(0), tar.subarray(0, 1536)])
      await expect(through(bad)).rejects.toMatchObject({ code: "invalid_archive" });
  });
});
