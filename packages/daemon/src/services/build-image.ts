// The image a finished build registers: its id names its base, its layers' digests and its config
// (so an unchanged rebuild is the same image), and its record stacks the build's layers on the base's.
import { createHash } from "node:crypto";
import { newId } from "@sbx-sh/protocol";
import type { BuildRecord, ImageLayerRef, ImageRecord } from "../domain/records.js";
import type { LayeredBase } from "./build-inputs.js";

/** The record of the image `build` made on `base`, to register under the build's name and tag. */
export function builtImage(
  build: BuildRecord,
  base: LayeredBase,
  result: { layers: ImageLayerRef[]; config: ImageRecord["config"] },
): ImageRecord {
  return {
    ref: newId("img"),
    id: imageDigest(
      base.id,
      result.layers.map((l) => l.digest),
      result.config,
    ),
    project: build.project,
    name: build.imageName,
    tag: build.tag,
    baseImage: base.name,
    baseId: base.id,
    baseDir: base.dir,
    layers: [...base.layers, ...result.layers],
    config: result.config,
    sizeBytes: base.sizeBytes + result.layers.reduce((a, l) => a + l.sizeBytes, 0),
    buildId: build.id,
    createdAt: new Date().toISOString(),
    deletedAt: null,
  };
}

/** The id of a built image: its base, its layers and its config. */
export function imageDigest(baseId: string, layerDigests: string[], config: ImageRecord["config"]): string {
  return "sha256:" + createHash("sha256").update(JSON.stringify({ baseId, layerDigests, config })).digest("hex");
}
