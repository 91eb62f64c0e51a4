// Garbage collection racing work that takes up the very layer it is collecting (SQLite stores,
// the real layer store and OCI import, real files): an import of the same layer, run at each
// point between the collector's transactions, keeps its layer's dir and row, and so does a build
// that holds the key; a dir the collector moved aside goes back when its second transaction fails,
// and at the next start when it was killed in between. Each interleaving is forced by running the
// other work inside the collector's store calls.
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ImageRecord } from "../domain/records.js";
import { importImage } from "../oci/import.js";
import { readLayout } from "../oci/layout.js";
import { layout, tarOf } from "../oci/testing/craft.js";
import type { StoreTx } from "../store/store.js";
import { startServices, type ServiceHarness } from "./testing/service-harness.js";

const isRoot = process.getuid?.() === 0;

describe.runIf(isRoot)("garbage collection racing work on the same layer", () => {
  let h: ServiceHarness;
  let root: string;
  let src: string;
  /** Keys the test's imports and "builds" hold, as OciService and BuildService do. */
  const held = new Map<string, number>();

  beforeEach(async () => {
    h = await startServices();
    root = await mkdtemp(join(tmpdir(), "sbx-gc-race-"));
    src = join(root, "layout");
    await layout(src, [tarOf([{ path: "f", data: "payload" }])]);
    h.inUse.add(() => held.keys());
  });
  afterEach(async () => {
    held.clear();
    await h.close();
    await rm(root, { recursive: true, force: true });
  });

  const hold = (keys: string[]) => {
    for (const k of keys) held.set(k, (held.get(k) ?? 0) + 1);
    return () => {
      for (const k of keys) if (held.set(k, held.get(k)! - 1).get(k) === 0) held.delete(k);
    };
  };
  const importApp = async (): Promise<ImageRecord> =>
    importImage(
      await readLayout(src),
      { layers: h.layerStore, store: h.stores.images, uidBase: 100000, hold },
      { project: "default", name: "app", tag: "1", replace: true, source: "t" },
    );

  /** Runs `fn` inside the next collection, before or after the n-th transaction it runs; answers whether it ran. */
  function during(tx: number, when: "before" | "after", fn: () => Promise<void>): () => boolean {
    const meta = h.stores.meta;
    const real = meta.transaction.bind(meta);
    let n = 0;
    let ran = false;
    meta.transaction = async <T>(body: (t: StoreTx) => Promise<T>): Promise<T> => {
      const mine = ++n === tx;
      if (mine && when === "before") await fn().then(() => (ran = true));
      const result = await real(body);
      if (mine && when === "after") await fn().then(() => (ran = true));
      return result;
    };
    return () => ran;
  }

  /** A layer that is collectable: imported, and its image removed. */
  async function unusedLayer(): Promise<ImageRecord> {
    const first = await importApp();
    await h.stores.images.markImageDeleted(first.ref);
    return first;
  }

  it.each([
    ["after its first transaction (the layer picked, its row and dir in place)", 1, "after"],
    ["before its second transaction (the dir moved aside)", 2, "before"],
    ["after its second transaction (the row deleted, the dir not yet removed)", 2, "after"],
  ] as const)("an import of the layer, %s, keeps its dir and row", async (_, tx, when) => {
    const first = await unusedLayer();
    let again: ImageRecord | undefined;
    const ran = during(tx, when, async () => void (again = await importApp()));
    await h.gc.collect();
    expect(ran()).toBe(true);
    expect(again!.baseDir).toBe(first.baseDir);
    expect(readFileSync(join(again!.baseDir, "f"), "utf8")).toBe("payload");
    expect((await h.stores.images.getLayer(again!.baseId))?.dir).toBe(again!.baseDir);
    // The next start's collection and sweep keep it too (a dir no row names would be swept).
    await h.gc.reconcile();
    expect(readFileSync(join(again!.baseDir, "f"), "utf8")).toBe("payload");
  });

  it("a build that found the layer and holds its key meanwhile: its dir never leaves its place", async () => {
    const first = await unusedLayer();
    let release: () => void = () => undefined;
    const seen: boolean[] = [];
    during(1, "after", async () => {
      // As the builder does: the row found and the dir seen in place, the key held in the same tick.
      const row = await h.stores.images.getLayer(first.baseId);
      if (row?.dir && existsSync(row.dir)) release = hold([row.key]);
    });
    const real = h.layerStore.claim.bind(h.layerStore);
    h.layerStore.claim = async (dir, isHeld) => {
      const answer = await real(dir, isHeld);
      seen.push(existsSync(first.baseDir));
      return answer;
    };
    const collected = await h.gc.collect();
    expect(seen).toEqual([true]);
    expect(collected.layers).toBe(0);
    expect(readFileSync(join(first.baseDir, "f"), "utf8")).toBe("payload");
    // Once the build is over and nothing names the layer, it is collected as usual.
    release();
    expect((await h.gc.collect()).layers).toBe(1);
    expect(existsSync(first.baseDir)).toBe(false);
    expect(await h.stores.images.getLayer(first.baseId)).toBeUndefined();
  });

  it("a collection whose second transaction fails puts every dir it moved aside back", async () => {
    const first = await unusedLayer();
    during(2, "before", () => Promise.reject(new Error("the database went away")));
    await expect(h.gc.collect()).rejects.toThrow("the database went away");
    expect(readFileSync(join(first.baseDir, "f"), "utf8")).toBe("payload");
    expect((await h.stores.images.getLayer(first.baseId))?.dir).toBe(first.baseDir);
  });

  it("puts back at start a dir a collection moved aside but whose row it never deleted (killed in between)", async () => {
    const img = await importApp();
    const trash = await h.layerStore.claim(img.baseDir, () => false);
    expect(existsSync(img.baseDir)).toBe(false);
    const { swept } = await h.gc.reconcile();
    expect(swept).toEqual([]);
    expect(readFileSync(join(img.baseDir, "f"), "utf8")).toBe("payload");
    expect(existsSync(trash as string)).toBe(false);
  });
});
