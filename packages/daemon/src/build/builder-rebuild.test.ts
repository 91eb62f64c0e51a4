// A rebuild that re-executes steps whose keys already have layers (noCache) on the real LayerStore:
// the first image's layer dirs are never replaced, the re-executed step gets a layer (and key) of
// its own whose children chain from it, and the step cache keeps naming the first build's layers.
import { mkdtemp, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import type { ImageDefinition } from "@sbx-sh/protocol";
import type { LayerSource, SandboxRuntime } from "../runtime/runtime.js";
import type { LayerRecord } from "../domain/records.js";
import { LayerStore } from "../layers/layer-store.js";
import { runBuild, stepKey, type BuilderDeps } from "./builder.js";

let root: string | undefined;
afterEach(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

const base = {
  name: "debian-minimal",
  id: "sha256:base",
  dir: "/base",
  config: { env: ["PATH=/bin"], workingDir: "/", user: "root", entrypoint: null, cmd: null, systemd: false },
};
const def: ImageDefinition = {
  name: "app",
  baseImage: "debian-minimal",
  steps: [
    { op: "run", command: "date +%s%N > /out" },
    { op: "env", key: "A", value: "1" },
    { op: "run", command: "echo two > /two" },
  ],
};

describe("builder: rebuilding steps whose keys have layers", () => {
  it("never replaces a committed layer dir: a re-executed step gets its own key, the cache keeps the first", async () => {
    root = await mkdtemp(join(tmpdir(), "sbx-rebuild-"));
    // What each step's sandbox leaves in its writable layer: one of two fixed uppers.
    const uppers = { a: join(root, "upper-a"), b: join(root, "upper-b") };
    for (const [name, dir] of Object.entries(uppers)) {
      await mkdir(dir);
      await writeFile(join(dir, "out"), `run ${name}\n`);
    }
    let upper = uppers.a;
    const runtime = {
      create: async () => undefined,
      destroy: async () => undefined,
      resolveUser: async () => "0:0",
      run: async () => 0,
      exportLayer: async <T>(_id: string, _o: unknown, consume: (l: LayerSource) => Promise<T>) =>
        consume({ kind: "directory", path: upper }),
    } as unknown as SandboxRuntime;
    const rows = new Map<string, LayerRecord>();
    const layersDir = join(root, "layers");
    const deps: BuilderDeps = {
      runtime,
      layers: new LayerStore(layersDir),
      cache: { getLayer: async (k) => rows.get(k), putLayer: async (l) => void rows.set(l.key, l) },
      openContext: () => Readable.from([]),
      reserveNetSlot: async () => 1,
      releaseNetSlot: () => undefined,
      limits: { cpus: 1, memoryMb: 512, pidsLimit: 100, diskMb: 100 },
    };
    const held: string[] = [];
    const build = (noCache: boolean) =>
      runBuild(def, base, deps, {
        noCache,
        signal: new AbortController().signal,
        emit: () => undefined,
        hold: (k) => void held.push(k),
      });

    const first = await build(false);
    const [k1, k2] = first.layers.map((l) => l.key);
    upper = uppers.b;
    const second = await build(true);
    const [n1, n2] = second.layers;

    // The first image's dirs hold what its build made; the rebuild's layers are elsewhere.
    expect(await readFile(join(first.layers[0]!.dir, "out"), "utf8")).toBe("run a\n");
    expect(await readFile(join(first.layers[1]!.dir, "out"), "utf8")).toBe("run a\n");
    expect(await readFile(join(n1!.dir, "out"), "utf8")).toBe("run b\n");
    expect(n1!.key).not.toBe(k1);
    expect(n1!.dir).not.toBe(first.layers[0]!.dir);
    // The next step stacks on the new layer: its key chains from it, so it is a new key too.
    const envKey = stepKey(n1!.key, def.steps[1]!);
    expect(n2!.key).toBe(stepKey(envKey, def.steps[2]!));
    // No cached build can reach that chain: its config step leaves no row (rows without a dir are never collected).
    expect(rows.has(envKey)).toBe(false);
    expect(rows.has(stepKey(k1!, def.steps[1]!))).toBe(true);
    // Each layer has one row naming its dir; the step cache still names the first build's layer.
    expect(rows.get(k1!)?.dir).toBe(first.layers[0]!.dir);
    expect(rows.get(n1!.key)?.dir).toBe(n1!.dir);
    expect(rows.get(n2!.key)?.dir).toBe(n2!.dir);
    expect(held).toEqual([n1!.key]);
    expect((await readdir(layersDir)).sort()).toEqual(
      [...first.layers, ...second.layers].map((l) => l.dir.slice(layersDir.length + 1)).sort(),
    );

    // Once more: a third layer of its own, and both earlier images' dirs untouched.
    upper = uppers.a;
    const third = await build(true);
    expect(third.layers[0]!.key).not.toBe(k1);
    expect(third.layers[0]!.key).not.toBe(n1!.key);
    expect(await readFile(join(n1!.dir, "out"), "utf8")).toBe("run b\n");
    expect(await readFile(join(first.layers[1]!.dir, "out"), "utf8")).toBe("run a\n");
    expect(await readdir(layersDir)).toHaveLength(6);
    // A cached build reuses what the step cache names: the first build's layers.
    expect((await build(false)).layers.map((l) => l.key)).toEqual([k1, k2]);
  });
});
