// The LayerStore a builder unit test runs on: each commit is a fresh, empty temp dir under the key
// asked for (a step cache entry only counts while its layer's dir exists), with a digest of its own.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LayerStore } from "../layers/layer-store.js";

export function tempDirLayers(): LayerStore {
  let n = 0;
  return {
    commit: async (_layer: unknown, key: string) => ({
      key,
      dir: mkdtempSync(join(tmpdir(), "sbx-layer-")),
      digest: `sha256:layer${++n}`,
      sizeBytes: 100,
    }),
  } as unknown as LayerStore;
}
