// The contract of the SandboxRuntime interface as a vitest suite: every implementation calls
// runtimeConformance() from a test of its own (FakeRuntime in a unit test, CrunRuntime in an e2e
// test as root), so a new backend is held to what services rely on. One sandbox serves most tests;
// lifecycle and layer export get their own.
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { lstat, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SandboxRuntime } from "./runtime.js";
import { readAll as readWhole } from "./file-content.js";
import { readTar, writeTar } from "./testing/memory-tar.js";
import { HELPER_BUSYBOX, HELPER_DIR, type LayerSource, type ProcessHandle, type SandboxSpec } from "./types.js";

export interface RuntimeConformanceFixture {
  runtime: SandboxRuntime;
  /** Lower dirs (top first) of a base with POSIX sh, echo, cat and sleep in /bin, and /etc/passwd with root and nobody. */
  lowers: string[];
  /** A fresh sandbox id the runtime accepts. */
  newId(): string;
  /** Removes whatever the fixture made. */
  close?(): Promise<void>;
}

const ROOT = {
  env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "GREETING=hello"],
  cwd: "/",
  user: "0:0",
};
let seq = 0;
const procId = (): string => `pr-conf${++seq}${Math.random().toString(36).slice(2, 8)}`;
/** A first page big enough for every directory these tests list. */
const PAGE = { limit: 1000 };

async function readAll(h: ProcessHandle, stream: "stdout" | "stderr"): Promise<string> {
  const chunks: Buffer[] = [];
  for (let off = 0; ;) {
    const b = await h.read(stream, off);
    if (b.length === 0) return Buffer.concat(chunks).toString("utf8");
    chunks.push(b);
    off += b.length;
  }
}

async function until<T>(fn: () => Promise<T>, what: string, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
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

type LayerEntry = { type: "file" | "directory" | "symlink" | "whiteout" | "other"; data?: string };

/** A layer's entries by relative path, whichever form the runtime exported it in. */
async function layerEntries(layer: LayerSource): Promise<Map<string, LayerEntry>> {
  const out = new Map<string, LayerEntry>();
  if (layer.kind === "tar") {
    const chunks: Buffer[] = [];
    for await (const c of layer.stream) chunks.push(c as Buffer);
    for (const e of await readTar(Buffer.concat(chunks))) {
      if (e.name === "" || e.name === ".") continue;
      const type = e.type === "chardev" ? "whiteout" : e.type === "hardlink" ? "file" : e.type;
      out.set(e.name, { type, data: e.type === "file" ? e.data?.toString("utf8") : undefined });
    }
    return out;
  }
  const walk = async (rel: string): Promise<void> => {
    for (const name of await readdir(join(layer.path, rel))) {
      const r = rel ? `${rel}/${name}` : name;
      const st = await lstat(join(layer.path, r));
      if (st.isDirectory()) {
        out.set(r, { type: "directory" });
        await walk(r);
      } else if (st.isFile()) out.set(r, { type: "file", data: await readFile(join(layer.path, r), "utf8") });
      else if (st.isSymbolicLink()) out.set(r, { type: "symlink" });
      else if (st.isCharacterDevice() && st.rdev === 0) out.set(r, { type: "whiteout" });
      else out.set(r, { type: "other" });
    }
  };
  await walk("");
  return out;
}

export function runtimeConformance(name: string, setup: () => Promise<RuntimeConformanceFixture>): void {
  describe(`SandboxRuntime conformance: ${name}`, () => {
    let f: RuntimeConformanceFixture;
    let rt: SandboxRuntime;
    let main: string;
    const made: string[] = [];
    const create = async (over: Partial<SandboxSpec> = {}): Promise<string> => {
      const spec: SandboxSpec = {
        id: f.newId(),
        lowers: f.lowers,
        hostname: "conformance",
        env: ROOT.env,
        workingDir: "/",
        cpus: 1,
        memoryMb: 256,
        pidsLimit: 256,
        diskMb: 64,
        netSlot: null,
        ...over,
      };
      made.push(spec.id);
      await rt.create(spec);
      return spec.id;
    };
    const start = (argv: string[], stdin = false, id = main): Promise<ProcessHandle> =>
      rt.startProcess(id, procId(), { ...ROOT, argv, stdin });

    beforeAll(async () => {
      f = await setup();
      rt = f.runtime;
      main = await create();
    });
    afterAll(async () => {
      for (const id of made) await rt?.destroy(id, null).catch(() => undefined);
      await f?.close?.();
    });

    it("declares its capabilities", () => {
      expect(typeof rt.name).toBe("string");
      expect(typeof rt.capabilities.liveCapture).toBe("boolean");
      expect(typeof rt.capabilities.userNamespaces).toBe("boolean");
      expect(typeof rt.capabilities.memorySnapshots.supported).toBe("boolean");
      expect(rt.capabilities.memorySnapshots.reason).toMatch(/\S/);
    });

    describe("lifecycle", () => {
      it("creates a running sandbox and destroys it, idempotently", async () => {
        const id = await create();
        expect(await rt.isRunning(id)).toBe(true);
        await rt.destroy(id, null);
        expect(await rt.isRunning(id)).toBe(false);
        await rt.destroy(id, null);
        await expect(rt.readFile(id, "/etc/passwd")).rejects.toMatchObject({ code: "sandbox_not_found" });
      });

      it("destroys in the background: nothing runs once it answers, and a second destroy waits for the rest", async () => {
        const id = await create();
        const sleeper = await start(["/bin/sleep", "300"], false, id);
        await rt.destroy(id, null, { background: true });
        expect(await rt.isRunning(id)).toBe(false);
        // Its process ended with the sandbox: its wait resolves (no exit code, or a kill's).
        expect(await sleeper.wait()).not.toBeUndefined();
        await rt.destroy(id, null);
        await expect(rt.readFile(id, "/etc/passwd")).rejects.toMatchObject({ code: "sandbox_not_found" });
      });

      it("answers sandbox_not_found for a sandbox it does not have, and destroys one quietly", async () => {
        const id = f.newId();
        expect(await rt.isRunning(id)).toBe(false);
        await rt.destroy(id, null);
        const calls: Array<[string, () => Promise<unknown>]> = [
          ["startProcess", () => start(["/bin/true"], false, id)],
          ["attachProcess", () => rt.attachProcess(id, procId())],
          ["readFile", () => rt.readFile(id, "/etc/passwd")],
          ["writeFile", () => rt.writeFile(id, "/x", Readable.from([Buffer.from("x")]))],
          ["listDirectory", () => rt.listDirectory(id, "/", PAGE)],
          ["deleteFile", () => rt.deleteFile(id, "/x", false)],
          ["extractArchive", () => rt.extractArchive(id, "/x", Readable.from([writeTar([])]))],
          ["createArchive", () => rt.createArchive(id, "/etc")],
          ["exportLayer", () => rt.exportLayer(id, { live: true }, async () => undefined)],
          ["resolveUser", () => rt.resolveUser(id, "root")],
          ["run", () => rt.run(id, { ...ROOT, argv: ["/bin/true"] }, () => undefined)],
          ["outputUsage", () => rt.outputUsage(id)],
        ];
        for (const [what, call] of calls)
          await expect(call(), what).rejects.toMatchObject({ code: "sandbox_not_found" });
      });
    });

    describe("run and users", () => {
      it("runs a command to completion with its output streamed", async () => {
        const out = { stdout: "", stderr: "" };
        const code = await rt.run(
          main,
          { ...ROOT, argv: ["/bin/sh", "-c", "echo $GREETING; echo err >&2; exit 3"] },
          (stream, data) => (out[stream] += data.toString()),
        );
        expect({ code, ...out }).toEqual({ code: 3, stdout: "hello\n", stderr: "err\n" });
      });

      it("runs the helper busybox, whatever the image holds", async () => {
        let out = "";
        const argv = [HELPER_BUSYBOX, "echo", "helper-ok"];
        expect(await rt.run(main, { ...ROOT, argv }, (_s, d) => (out += d.toString()))).toBe(0);
        expect(out).toBe("helper-ok\n");
      });

      it("resolves users: root, numeric ids, names from the sandbox's /etc/passwd", async () => {
        expect(await rt.resolveUser(main, "root")).toBe("0:0");
        expect(await rt.resolveUser(main, "1000")).toBe("1000:0");
        expect(await rt.resolveUser(main, "1000:1000")).toBe("1000:1000");
        expect(await rt.resolveUser(main, "nobody")).toBe("65534:65534");
        await expect(rt.resolveUser(main, "no-such-user")).rejects.toMatchObject({ code: "invalid_argument" });
      });
    });

    describe("processes", () => {
      it("starts a process and reads its output at offsets", async () => {
        const h = await start(["/bin/echo", "hello", "world"]);
        expect(await h.wait()).toBe(0);
        expect((await h.read("stdout", 0)).toString()).toBe("hello world\n");
        expect((await h.read("stdout", 6)).toString()).toBe("world\n");
        expect((await h.read("stdout", 0, 5)).toString()).toBe("hello");
        expect((await h.read("stdout", 100)).length).toBe(0);
        expect((await h.read("stderr", 0)).length).toBe(0);
        expect(await h.exitCode()).toBe(0);
      });

      it("keeps stdout and stderr apart and reports the exit code", async () => {
        const h = await start(["/bin/sh", "-c", "echo out; echo err >&2; exit 3"]);
        expect(await h.wait()).toBe(3);
        expect(await readAll(h, "stdout")).toBe("out\n");
        expect(await readAll(h, "stderr")).toBe("err\n");
      });

      it("exits 127 for a program that does not exist", async () => {
        expect(await (await start(["/no/such/program"])).wait()).toBe(127);
      });

      it("signals a running process: death by signal n is 128+n, and an ended one is not signalled", async () => {
        const h = await start(["/bin/sleep", "30"]);
        expect(await h.exitCode()).toBeUndefined();
        expect(await h.signal("SIGTERM")).toBe(true);
        expect(await h.wait()).toBe(143);
        expect(await h.signal("SIGTERM")).toBe(false);
      });

      it("stops waiting when the wait's signal aborts, and the process runs on", async () => {
        const h = await start(["/bin/sleep", "30"]);
        const abort = new AbortController();
        setTimeout(() => abort.abort(), 50);
        expect(await h.wait(abort.signal)).toBeUndefined();
        expect(await h.exitCode()).toBeUndefined();
        await h.signal("SIGKILL");
        expect(await h.wait()).toBe(137);
      });

      it("feeds stdin and closes it", async () => {
        const h = await start(["/bin/cat"], true);
        expect(h.stdinOpen).toBe(true);
        await h.writeStdin(Buffer.from("hello "));
        await h.writeStdin(Buffer.from("world"));
        await h.closeStdin();
        expect(h.stdinOpen).toBe(false);
        expect(await h.wait()).toBe(0);
        expect(await readAll(h, "stdout")).toBe("hello world");
        await expect(h.writeStdin(Buffer.from("late"))).rejects.toMatchObject({ code: "failed_precondition" });
        await h.closeStdin();
      });

      it("refuses stdin to a process started without it", async () => {
        const h = await start(["/bin/true"]);
        expect(h.stdinOpen).toBe(false);
        await expect(h.writeStdin(Buffer.from("x"))).rejects.toMatchObject({ code: "failed_precondition" });
        await h.wait();
      });

      it("attaches to a process started earlier: output, exit and signals, but no stdin", async () => {
        const h = await start(["/bin/sh", "-c", "echo before; sleep 30"], true);
        const again = await rt.attachProcess(main, h.id);
        expect(again.id).toBe(h.id);
        expect(again.sandboxId).toBe(main);
        expect(again.stdinOpen).toBe(false);
        await until(async () => (await readAll(again, "stdout")) === "before\n", "output through the attached handle");
        expect(await again.exitCode()).toBeUndefined();
        expect(await again.signal("SIGKILL")).toBe(true);
        expect(await again.wait()).toBe(137);
        expect(await h.wait()).toBe(137);
        expect(await (await rt.attachProcess(main, h.id)).exitCode()).toBe(137);
        await h.closeStdin();
      });

      it("answers process_not_found when attaching to a process it never started", async () => {
        await expect(rt.attachProcess(main, "pr-never-started")).rejects.toMatchObject({ code: "process_not_found" });
      });

      it("reports output usage and discards an ended process's output, keeping its exit code", async () => {
        const usage = await rt.outputUsage(main);
        expect(usage).toBeGreaterThanOrEqual(0);
        expect(usage).toBeLessThanOrEqual(1);
        const h = await start(["/bin/echo", "to be discarded"]);
        expect(await h.wait()).toBe(0);
        await rt.discardOutput(main, h.id);
        expect((await h.read("stdout", 0)).length).toBe(0);
        expect(await (await rt.attachProcess(main, h.id)).exitCode()).toBe(0);
      });

      it("forgets ended processes: their output and their share of the output store go", async () => {
        const before = await rt.outputUsage(main);
        const hs: ProcessHandle[] = [];
        for (let i = 0; i < 8; i++) hs.push(await start(["/bin/echo", "y".repeat(100_000)]));
        for (const h of hs) expect(await h.wait()).toBe(0);
        expect(await rt.outputUsage(main)).toBeGreaterThan(before);
        for (const h of hs) await rt.forgetProcess(main, h.id);
        expect((await hs[0]!.read("stdout", 0)).length).toBe(0);
        // Everything they held goes (crun with sbx-agent: their exit files in the log store too).
        expect(await rt.outputUsage(main)).toBeLessThanOrEqual(before);
      });
    });

    describe("files", () => {
      const put = (path: string, data: string | Buffer): Promise<void> =>
        rt.writeFile(main, path, Readable.from([Buffer.from(data)]));
      const text = async (path: string): Promise<string> =>
        (await readWhole(await rt.readFile(main, path), 64 << 20, path)).toString();

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
        expect(empty.size).toBe(0);
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
    });

    describe("layer export", () => {
      let snap: string;
      beforeAll(async () => {
        snap = await create();
        await rt.writeFile(snap, "/layer/a.txt", Readable.from([Buffer.from("A")]));
        await rt.writeFile(snap, `${HELPER_DIR}/scratch`, Readable.from([Buffer.from("helper dir")]));
        await rt.deleteFile(snap, "/etc/hostname", false);
      });

      it("exports the writable layer live, with whiteouts and without the helper dir; the sandbox runs on", async () => {
        expect(rt.capabilities.liveCapture).toBe(true);
        const entries = await rt.exportLayer(snap, { live: true }, layerEntries);
        expect(entries.get("layer/a.txt")).toEqual({ type: "file", data: "A" });
        expect(entries.get("layer")?.type).toBe("directory");
        expect(entries.get("etc/hostname")?.type).toBe("whiteout");
        expect(entries.has("etc/passwd")).toBe(false);
        // Its mount point may be there; what the sandbox wrote inside never is.
        expect([...entries.keys()].filter((k) => k.startsWith(HELPER_DIR.slice(1) + "/"))).toEqual([]);
        expect(await rt.isRunning(snap)).toBe(true);
        const h = await start(["/bin/echo", "after"], false, snap);
        expect(await h.wait()).toBe(0);
      });

      it("exports the layer of a stopped sandbox: its processes end first", async () => {
        const sleeper = await start(["/bin/sleep", "30"], false, snap);
        const entries = await rt.exportLayer(snap, { live: false }, layerEntries);
        expect(entries.get("layer/a.txt")).toEqual({ type: "file", data: "A" });
        expect(await sleeper.wait()).not.toBeUndefined();
        expect(await rt.isRunning(snap)).toBe(false);
        await rt.destroy(snap, null);
      });
    });
  });
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
