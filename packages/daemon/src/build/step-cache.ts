// The build's step cache: each step's key (its parent's key, the step, the digest of what it
// copies), and what an executed step leaves in it. Like Docker's, the cache gives the layer of a
// step's newest build: a --no-cache rebuild refreshes it instead of leaving the older layers in
// place for the next plain build (which would then name a stale image, or refuse the name).
import { createHash } from "node:crypto";
import type { Step } from "@sbx-sh/protocol";
import type { CommittedLayer } from "../layers/layer-store.js";
import type { ImageStore } from "../store/store.js";

/** The store's step cache, as the builder uses it. */
export type StepCache = Pick<ImageStore, "getStepLayer" | "putLayer" | "pointStep">;

/**
 * Records an executed step's layer, and makes it what the step cache gives for the step from now
 * on (as Docker does: a --no-cache build refreshes the cache). The step key's own dir may already
 * hold a layer (a noCache rebuild, two builds of one step at once) that images and sandboxes use:
 * the store then made this one under a fresh key, which gets its own row and the step's pointer.
 * Rows are never rewritten: images, snapshots and GC know layers by key. The older layer keeps its
 * row until no image, snapshot or sandbox names it, and is collected then like any other.
 */
export async function commitStep(
  cache: StepCache,
  key: string,
  text: string,
  made: CommittedLayer,
  hold?: (key: string) => void,
) {
  if (made.key !== key) hold?.(made.key);
  const { digest, dir, sizeBytes } = made;
  await cache.putLayer({ key: made.key, digest, dir, sizeBytes, step: text, createdAt: new Date().toISOString() });
  await cache.pointStep(key, made.key);
  return { key: made.key, digest, dir, sizeBytes };
}

/** sha256 over the parent's key and the step as it affects the result (not where it was declared). */
export function stepKey(parentKey: string, step: Step): string {
  const { source: _source, ...rest } = step;
  const canonical = "text" in rest ? { ...rest, text: undefined } : rest;
  return (
    "sha256:" + createHash("sha256").update(parentKey).update("\n").update(JSON.stringify(canonical)).digest("hex")
  );
}
