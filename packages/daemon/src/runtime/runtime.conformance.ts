// The contract of the SandboxRuntime interface as a vitest suite: every implementation calls
// runtimeConformance() from a test of its own (FakeRuntime in a unit test, CrunRuntime in an e2e
// test as root), so a new backend is held to what services rely on. One sandbox serves most tests;
// lifecycle and layer export get their own.
import { lstat, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SandboxRuntime } from "./runtime.js";
import { filesConformance } from "./runtime-files.conformance.js";
import { processesConformance } from "./runtime-processes.conformance.js";
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

    describe("processes", () => processesConformance(() => ({ rt, main, start })));

    describe("files", () => filesConformance(() => ({ rt, main })));

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
