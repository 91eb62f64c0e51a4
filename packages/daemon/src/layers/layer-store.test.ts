// LayerStore.sweep: what a daemon killed mid-commit leaves in the layers dir goes at the next start;
// listed layers, base image dirs and anything not named like a layer stay.
import { mkdtemp, mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { LayerStore } from "./layer-store.js";

let root: string | undefined;
afterEach(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

describe("LayerStore.sweep", () => {
  it("removes unlisted layer dirs and commit temp dirs, keeps listed layers and everything else", async () => {
    root = await mkdtemp(join(tmpdir(), "sbx-layers-"));
    const store = new LayerStore(root);
    const listed = store.dirFor("sha256:" + "a".repeat(64));
    const orphan = store.dirFor("sha256:" + "b".repeat(64));
    const base = join(root, "c".repeat(64));
    const ociUnpack = join(root, ".oci-0123456789ab");
    for (const d of [
      listed,
      orphan,
      `${orphan}.tmp-0123abcd`,
      `${orphan}.tmp-0123abcd.view`,
      ociUnpack,
      base,
      join(root, "notes"),
    ]) {
      await mkdir(d, { recursive: true });
      await writeFile(join(d, "f"), "x");
    }
    const removed = await store.sweep(new Set([listed]));
    expect(removed.sort()).toEqual(
      [orphan, `${orphan}.tmp-0123abcd`, `${orphan}.tmp-0123abcd.view`, ociUnpack]
        .map((d) => d.slice(root!.length + 1))
        .sort(),
    );
    expect((await readdir(root)).sort()).toEqual([listed.slice(root.length + 1), "c".repeat(64), "notes"].sort());
  });
});
