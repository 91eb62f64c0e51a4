// A cluster node commits an image it imports for its control plane (ImportTarget.commit: pushed to
// the cluster registry, recorded by the control plane) before registering it: the commit sees the
// finished record while nothing is registered, a failed commit registers nothing, and an image the
// node already has under that name is committed all the same (the control plane may lack it).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LayerStore } from "../layers/layer-store.js";
import type { ImageRecord, LayerRecord } from "../domain/records.js";
import { importImage } from "./import.js";
import { readLayout } from "./layout.js";
import { layout, tarOf } from "./testing/craft.js";

const isRoot = process.getuid?.() === 0;

describe.runIf(isRoot)("import with a commit (cluster nodes)", () => {
  let root: string;
  let n = 0;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "sbx-oci-commit-"));
  });
  afterAll(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  async function run(
    commit: (img: ImageRecord) => Promise<void>,
    have?: (id: string) => ImageRecord | undefined,
    images: ImageRecord[] = [],
  ) {
    const dir = join(root, `case-${++n}`);
    await layout(dir, [
      tarOf([
        { path: "etc/", type: "dir", mode: 0o755 },
        { path: "etc/ok", data: "ok" },
      ]),
    ]);
    const layers = new Map<string, LayerRecord>();
    const plan = await readLayout(dir);
    const store = {
      getLayer: async (k: string) => layers.get(k),
      putLayer: async (l: LayerRecord) => void layers.set(l.key, l),
      registerImage: async (i: ImageRecord) => void images.push(i),
      findImage: async () => have?.(plan.configDigest),
    };
    const result = await importImage(
      plan,
      { layers: new LayerStore(join(root, `layers-${n}`)), store, uidBase: 100000 },
      { project: "p", name: "x", tag: "1", replace: false, source: "t", commit },
    ).then(
      (img) => ({ img, error: undefined }),
      (error: unknown) => ({ img: undefined, error }),
    );
    return { ...result, images };
  }

  it("commits the finished record before registering it", async () => {
    let registeredAtCommit = -1;
    const committed: ImageRecord[] = [];
    const images: ImageRecord[] = [];
    const { img } = await run(
      async (i) => {
        committed.push(i);
        registeredAtCommit = images.length;
      },
      undefined,
      images,
    );
    expect(committed).toHaveLength(1);
    expect(registeredAtCommit).toBe(0);
    expect(images.map((i) => i.ref)).toEqual([img!.ref]);
    expect(committed[0]).toMatchObject({ ref: img!.ref, name: "x", tag: "1", project: "p" });
  });

  it("a failed commit registers nothing", async () => {
    const { error, images } = await run(() => Promise.reject(new Error("registry down")));
    expect(String(error)).toMatch(/registry down/);
    expect(images).toEqual([]);
  });

  it("an image already here under that name is committed all the same", async () => {
    const committed: string[] = [];
    const existing = { ref: "img-existing00000", name: "x", tag: "1" } as ImageRecord;
    const { img, images } = await run(
      async (i) => void committed.push(i.ref),
      (id) => ({ ...existing, id }),
    );
    expect(img!.ref).toBe(existing.ref);
    expect(committed).toEqual([existing.ref]);
    expect(images).toEqual([]);
  });
});
