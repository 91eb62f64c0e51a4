// The build's step cache: each step's key (its parent's key, the step, the digest of what it
// copies), and what an executed step leaves in it. Like Docker's, the cache gives the layer of a
// step's newest build: a --no-cache rebuild refreshes it instead of leaving the older layers in
// place for the next plain build (which would then name a stale image, or refuse the name).
// A config-only step's row names the key it chains from, so garbage collection drops it together
// with that layer (staleConfigSteps): a --no-cache rebuild chains the steps after a re-executed one
// from a key of its own, and those rows would otherwise outlive every layer they could follow.
import { createHash } from "node:crypto";
import type { Step } from "@sbx-sh/protocol";
import type { CommittedLayer } from "../layers/layer-store.js";
import type { LayerRecord } from "../domain/records.js";
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

/** Records a config-only step (ENV, USER, ...): a row with no layer, naming the key it chains from. */
export async function recordConfigStep(cache: StepCache, key: string, parent: string, text: string): Promise<void> {
  const createdAt = new Date().toISOString();
  await cache.putLayer({ key, digest: null, dir: null, sizeBytes: 0, step: text, createdAt, parent });
}

/**
 * The config-only steps' rows that chain from a layer or config step whose row is gone, and the
 * rows chained from those in turn: a build reaches such a step again only after making that layer
 * anew, so the row serves no cache hit. Kept: rows `held` names or chained from a key it names (a
 * build in progress, a failed build's steps kept for the retry), rows chained from a base (a
 * `base:` key, no row of its own), and rows written before they named their parent.
 */
export function staleConfigSteps(rows: readonly LayerRecord[], held: ReadonlySet<string>): string[] {
  const present = new Set(rows.map((r) => r.key));
  const children = new Map<string, string[]>();
  const stale: string[] = [];
  for (const r of rows) {
    if (r.dir !== null || r.parent === undefined || held.has(r.key)) continue;
    if (!present.has(r.parent) && !held.has(r.parent) && !isBaseKey(r.parent)) stale.push(r.key);
    else children.set(r.parent, [...(children.get(r.parent) ?? []), r.key]);
  }
  for (let i = 0; i < stale.length; i++) stale.push(...(children.get(stale[i]!) ?? []));
  return stale;
}

/** The key a build's first step chains from: its base's, within its project when it has one. */
export function baseKey(baseId: string, project?: string): string {
  return project === undefined ? `base:${baseId}` : `project:${project}\nbase:${baseId}`;
}

function isBaseKey(key: string): boolean {
  return key.startsWith("base:") || key.startsWith("project:");
}

/** sha256 over the parent's key and the step as it affects the result (not where it was declared). */
export function stepKey(parentKey: string, step: Step): string {
  const { source: _source, ...rest } = step;
  const canonical = "text" in rest ? { ...rest, text: undefined } : rest;
  return (
    "sha256:" + createHash("sha256").update(parentKey).update("\n").update(JSON.stringify(canonical)).digest("hex")
  );
}
