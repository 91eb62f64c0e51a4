// The files part of the SandboxRuntime contract (runtimeConformance() runs it): streamed writes and
// reads, listings page by page, deletes, precise error codes, archives in and out, and streams that
// fail midway changing nothing.
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { beforeAll, describe, expect, it } from "vitest";
import type { SandboxRuntime } from "./runtime.js";
import { collect, failingStream, PAGE, type RuntimeContext } from "./testing/conformance-kit.js";
import { readTar, writeTar } from "./testing/memory-tar.js";

/** Part of runtimeConformance(): `ctx` is its runtime and sandbox once its beforeAll has run. */
export function filesConformance(ctx: RuntimeContext): void {
  describe("files", () => {
    let rt: SandboxRuntime;
    let main: string;
    beforeAll(() => {
      ({ rt, main } = ctx);
    });
    const put = (path: string, data: string): Promise<void> =>
      rt.writeFile(main, path, Readable.from([Buffer.from(data)]));

    it("writes a streamed file, creating its parents, and reads it back", async () => {
      await put("/conf/a/b/c.txt", "hello");
      expect((await rt.readFile(main, "/conf/a/b/c.txt")).toString()).toBe("hello");
      const chunks = Readable.from(["one ", "two ", "three"].map((s) => Buffer.from(s)));
      await rt.writeFile(main, "/conf/a/chunks.txt", chunks);
      expect((await rt.readFile(main, "/conf/a/chunks.txt")).toString()).toBe("one two three");
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
      expect((await rt.readFile(main, "/conf/kept.txt")).toString()).toBe("v1");
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
      expect((await rt.readFile(main, "/conf/tar/d/a.txt")).toString()).toBe("A");
      expect((await rt.readFile(main, "/conf/tar/b.txt")).toString()).toBe("B");
      await rt.extractArchive(main, "/conf/tgz", Readable.from([gzipSync(tar)]));
      expect((await rt.readFile(main, "/conf/tgz/d/a.txt")).toString()).toBe("A");
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
  });
}
