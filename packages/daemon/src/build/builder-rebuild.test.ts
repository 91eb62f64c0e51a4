// A rebuild that re-executes steps whose keys already have layers (noCache) on the real LayerStore
// and SQLite store: the first image's layer dirs are never replaced, the re-executed step gets a
// layer (and key) of its own whose children chain from it, and the step cache gives the newest
// build's layers from then on (as Docker's does).
import { mkdtemp, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import type { ImageDefinition } from "@sbx-sh/protocol";
import type { LayerSource, SandboxRuntime } from "../runtime/runtime.js";
import { LayerStore } from "../layers/layer-store.js";
import { openStores } from "../store/open-stores.js";
import type { Stores } from "../store/store.js";
import { runBuild, type BuilderDeps } from "./builder.js";
import { stepKey } from "./step-cache.js";

let root: string | undefined;
let stores: Stores | undefined;
afterEach(async () => {
  await stores?.close();
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
  it("never replaces a committed layer dir: a re-executed step gets its own key, the cache gives the newest", async () => {
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
    stores = await openStores({ kind: "sqlite", path: join(root, "sbx.db") });
    const rows = stores.images;
    const layersDir = join(root, "layers");
    const deps: BuilderDeps = {
      runtime,
      layers: new LayerStore(layersDir),
      cache: rows,
      openContext: () => Readable.from([]),
      reserveNetSlot: async () => 1,
      releaseNetSlot: () => undefined,
      limits: { cpus: 1, memoryMb: 512, pidsLimit: 100, diskMb: 100 },
    };
    const held: string[] = [];
    const cachedSteps: boolean[] = [];
    const build = (noCache: boolean) =>
      runBuild(def, base, deps, {
        noCache,
        signal: new AbortController().signal,
        emit: (e) => void (e.type === "step" && cachedSteps.push(e.cached)),
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
    // Cached builds reach that chain (through the first step's pointer): its config step has a row too.
    expect(await rows.getLayer(envKey)).toBeDefined();
    expect(await rows.getLayer(stepKey(k1!, def.steps[1]!))).toBeDefined();
    // Each layer has one row naming its dir; the step cache gives the rebuild's layer for step 1.
    expect((await rows.getLayer(k1!))?.dir).toBe(first.layers[0]!.dir);
    expect((await rows.getLayer(n1!.key))?.dir).toBe(n1!.dir);
    expect((await rows.getLayer(n2!.key))?.dir).toBe(n2!.dir);
    const step1 = stepKey(`base:${base.id}`, def.steps[0]!);
    expect(step1).toBe(k1);
    expect((await rows.getStepLayer(step1))?.key).toBe(n1!.key);
    expect(held).toEqual([n1!.key]);
    // A cached build now gives the rebuild's image, every step CACHED, and holds the pointed-at layer.
    cachedSteps.length = 0;
    expect((await build(false)).layers.map((l) => l.key)).toEqual([n1!.key, n2!.key]);
    expect(cachedSteps).toEqual([true, true, true]);
    expect(held).toEqual([n1!.key, n1!.key]);
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
    // A cached build reuses what the step cache names: the newest build's layers.
    expect((await build(false)).layers.map((l) => l.key)).toEqual(third.layers.map((l) => l.key));
    expect(third.layers.map((l) => l.key)).not.toContain(k2);
  });
});
