// F7 of the second security round: knowing another project's layer diff_id must not be enough to
// get a copy of that layer. An import (or a pull, whose blobs the daemon skips when it has the
// layer) that names a victim's diff_id gets its own bytes or an error, never the victim's layer.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
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
const sha = (b: Buffer): string => `sha256:${createHash("sha256").update(b).digest("hex")}`;

describe.runIf(isRoot)("layers imported by digest", () => {
  let root: string;
  const layers = new Map<string, LayerRecord>();
  const store = {
    getLayer: async (k: string) => layers.get(k),
    putLayer: async (l: LayerRecord) => void layers.set(l.key, l),
    registerImage: async () => undefined,
    findImage: async () => undefined,
  };
  const victimTar = tarOf([{ path: "secret", data: "the victim's secret" }]);
  let n = 0;

  async function importAs(project: string, tars: Buffer[], tweak = {}, pull = false): Promise<ImageRecord> {
    const dir = join(root, `layout-${++n}`);
    await layout(dir, tars, tweak);
    return importImage(
      await readLayout(dir),
      { layers: new LayerStore(join(root, "layers")), store, uidBase: 100000 },
      { project, name: "x", tag: "1", replace: false, source: "t", blobsMayBeMissing: pull },
    );
  }

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "sbx-oci-projects-"));
    await importAs("victim", [victimTar]);
  });
  afterAll(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  it("an archive naming the victim's diff_id over other bytes does not get the victim's layer", async () => {
    const decoy = tarOf([{ path: "secret", data: "decoy" }]);
    const got = await importAs("attacker", [decoy], { diffIds: [sha(victimTar)] }).then(
      (img) => readFileSync(join(img.baseDir, "secret"), "utf8"),
      (e: unknown) => e,
    );
    // Its own bytes (it supplied them) or a refusal; never the victim's.
    expect(got === "decoy" || (got as { code?: string }).code === "invalid_archive").toBe(true);
  });

  it("a pull whose registry leaves out the victim's blob gets an error, not the victim's layer", async () => {
    const got = await importAs("attacker", [victimTar], { dropBlob: true }, true).then(
      (img) => readFileSync(join(img.baseDir, "secret"), "utf8"),
      (e: unknown) => e,
    );
    expect(got).toMatchObject({ code: "invalid_archive" });
  });

  it("the victim's own re-import still reuses its layer", async () => {
    const before = layers.size;
    const img = await importAs("victim", [victimTar], { dropBlob: true }, true);
    expect(readFileSync(join(img.baseDir, "secret"), "utf8")).toBe("the victim's secret");
    expect(layers.size).toBe(before);
  });
});
