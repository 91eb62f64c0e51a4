// The file half of the SandboxRuntime contract (./runtime.conformance.ts runs it against one
// running sandbox): reads that stream with their size, writes and archives that change nothing
// unless they arrive whole, paged listings, deletes, and the error codes of each.
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { beforeEach, expect, it } from "vitest";
import { readAll as readWhole } from "./file-content.js";
import type { SandboxRuntime } from "./runtime.js";
import { readTar, writeTar } from "./testing/memory-tar.js";

/** A first page big enough for every directory these tests list. */
const PAGE = { limit: 1000 };

/** The tests, against `ctx()`'s runtime and running sandbox (known once the suite's beforeAll ran). */
export function filesConformance(ctx: () => { rt: SandboxRuntime; main: string }): void {
  let rt: SandboxRuntime;
  let main: string;
  const put = (path: string, data: string | Buffer): Promise<void> =>
    rt.writeFile(main, path, Readable.from([Buffer.from(data)]));
  const text = async (path: string): Promise<string> =>
    (await readWhole(await rt.readFile(main, path), 64 << 20, path)).toString();
  beforeEach(() => ({ rt, main } = ctx()));

  it("writes a streamed file, creating its parents, and reads it back", async () => {
    await put("/conf/a/b/c.txt", "hello");
    expect(await text("/conf/a/b/c.txt")).toBe("hello");
    const chunks = Readable.from(["one ", "two ", "three"].map((s) => Buffer.from(s)));
    await rt.writeFile(main, "/conf/a/chunks.txt", chunks);
    expect(await text("/conf/a/chunks.txt")).toBe("one two three");
  });

  it("reads a file as a stream: its size up front, then exactly its bytes, a chunk at a time", async () => {
    const data = randomBytes(8 << 20);
    await put("/conf/big.bin", data);
    const content = await rt.readFile(main, "/conf/big.bin");
    expect(content.size).toBe(data.length);
    const hash = createHash("sha256");
    let chunks = 0;
    for await (const chunk of content.stream as AsyncIterable<Buffer>) {
      hash.update(chunk);
      chunks++;
    }
    expect(hash.digest("hex")).toBe(createHash("sha256").update(data).digest("hex"));
    expect(chunks).toBeGreaterThan(0);
    await put("/conf/empty", "");
    const empty = await rt.readFile(main, "/conf/empty");
    // An empty file may say nothing of its size (the agent cannot tell it from a /proc file that says 0).
    expect(empty.size ?? 0).toBe(0);
    expect((await collect(empty.stream)).length).toBe(0);
  });

  it("stops a read whose stream is destroyed mid-way; the sandbox's files still answer", async () => {
    await put("/conf/big2.bin", randomBytes(8 << 20));
    await put("/conf/small.txt", "small");
    const content = await rt.readFile(main, "/conf/big2.bin");
    const first = await new Promise<Buffer>((resolve) => content.stream.once("data", resolve));
    expect(first.length).toBeGreaterThan(0);
    content.stream.destroy();
    await once(content.stream, "close");
    expect(await text("/conf/small.txt")).toBe("small");
  });

  it("lists a directory with types, sizes and modes", async () => {
    await put("/conf/list/file.txt", "12345");
    await put("/conf/list/sub/x", "");
    const { entries, more } = await rt.listDirectory(main, "/conf/list", PAGE);
    expect(more).toBe(false);
    expect(entries.map((e) => e.name)).toEqual(["file.txt", "sub"]);
    expect(entries[0]!.size).toBe(5);
    expect(entries[0]!.mode & 0o170000).toBe(0o100000);
    expect(entries[1]!.mode & 0o170000).toBe(0o040000);
    expect(entries[0]!.mtime).toBeGreaterThan(0);
  });

  it("lists a page at a time, in byte order, after the cursor's name", async () => {
    const names = ["10", "9", "B", "a b", "a\\b", "b", "x y\\"];
    for (const n of names) await put(`/conf/pages/${n}`, "");
    const sorted = [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    const seen: string[] = [];
    let after: string | undefined;
    for (let i = 0; i < 10; i++) {
      const page = await rt.listDirectory(
        main,
        "/conf/pages",
        after === undefined ? { limit: 3 } : { limit: 3, after },
      );
      expect(page.entries.length).toBeLessThanOrEqual(3);
      seen.push(...page.entries.map((e) => e.name));
      if (!page.more) break;
      after = page.entries.at(-1)!.name;
    }
    expect(seen).toEqual(sorted);
  });

  it("changes nothing when a write's stream fails", async () => {
    await put("/conf/kept.txt", "v1");
    const cut = new Error("the upload was cut off");
    await expect(rt.writeFile(main, "/conf/kept.txt", failingStream("v2 partial", cut))).rejects.toBe(cut);
    expect(await text("/conf/kept.txt")).toBe("v1");
  });

  it("deletes files, and directories only when recursive", async () => {
    await put("/conf/del/f", "x");
    await expect(rt.deleteFile(main, "/conf/del", false)).rejects.toMatchObject({ code: "invalid_path" });
    await rt.deleteFile(main, "/conf/del/f", false);
    await expect(rt.readFile(main, "/conf/del/f")).rejects.toMatchObject({ code: "file_not_found" });
    await rt.deleteFile(main, "/conf/del", true);
    await expect(rt.listDirectory(main, "/conf/del", PAGE)).rejects.toMatchObject({ code: "file_not_found" });
    await expect(rt.deleteFile(main, "/conf/del", true)).rejects.toMatchObject({ code: "file_not_found" });
    await expect(rt.deleteFile(main, "/", true)).rejects.toMatchObject({ code: "invalid_path" });
  });

  it("answers missing paths, directories and relative paths with precise codes", async () => {
    await expect(rt.readFile(main, "/conf/missing")).rejects.toMatchObject({ code: "file_not_found" });
    await expect(rt.readFile(main, "/conf")).rejects.toMatchObject({ code: "invalid_path" });
    await put("/conf/plain", "x");
    await expect(rt.listDirectory(main, "/conf/plain", PAGE)).rejects.toMatchObject({ code: "invalid_path" });
    await expect(rt.readFile(main, "relative/path")).rejects.toMatchObject({ code: "invalid_path" });
    await expect(put("/conf", "x")).rejects.toMatchObject({ code: "invalid_path" });
  });

  it("unpacks streamed tar and tar.gz archives into a directory", async () => {
    const tar = writeTar([
      { name: "d", type: "directory" },
      { name: "d/a.txt", type: "file", data: Buffer.from("A") },
      { name: "b.txt", type: "file", data: Buffer.from("B"), mode: 0o600 },
    ]);
    await rt.extractArchive(main, "/conf/tar", Readable.from([tar]));
    expect(await text("/conf/tar/d/a.txt")).toBe("A");
    expect(await text("/conf/tar/b.txt")).toBe("B");
    await rt.extractArchive(main, "/conf/tgz", Readable.from([gzipSync(tar)]));
    expect(await text("/conf/tgz/d/a.txt")).toBe("A");
  });

  it("changes nothing when an archive's stream fails", async () => {
    const tar = writeTar([{ name: "a.txt", type: "file", data: Buffer.from("A") }]);
    const cut = new Error("the archive was cut off");
    const stream = failingStream(tar.subarray(0, 1024), cut);
    await expect(rt.extractArchive(main, "/conf/never", stream)).rejects.toBe(cut);
    await expect(rt.listDirectory(main, "/conf/never", PAGE)).rejects.toMatchObject({ code: "file_not_found" });
  });

  it("streams a tar of a directory tree or a file, named by its base name", async () => {
    await put("/conf/arch/x/y.txt", "Y");
    const entries = await readTar(await collect(await rt.createArchive(main, "/conf/arch/x")));
    expect(entries.map((e) => e.name).sort()).toEqual(["x", "x/y.txt"]);
    expect(entries.find((e) => e.name === "x/y.txt")!.data!.toString()).toBe("Y");
    const one = await readTar(await collect(await rt.createArchive(main, "/conf/arch/x/y.txt")));
    expect(one.map((e) => e.name)).toEqual(["y.txt"]);
    await expect(rt.createArchive(main, "/conf/arch/none")).rejects.toMatchObject({ code: "file_not_found" });
  });
}

/** A stream that yields `first` and then fails with `err`, as an upload cut off at its size cap. */
function failingStream(first: Buffer | string, err: Error): Readable {
  return Readable.from(
    (async function* () {
      yield Buffer.from(first);
      throw err;
    })(),
  );
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
