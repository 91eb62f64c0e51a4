// Replays an image definition: steps that change files run in a temporary build sandbox stacked on
// the layers of the steps before it, and what they changed in its writable layer becomes the
// step's layer. Consecutive executed steps share one build sandbox when the runtime can stop its
// processes between steps (./build-session.ts); otherwise each step has its own. Every step has a
// cache key (parent key + the step + the digest of what it copies), so unchanged steps are reused;
// the step cache gives the layer of a step's newest build (./step-cache.ts). A step that needs a
// sandbox runs in ./execute-step.ts.
import { existsSync } from "node:fs";
import { posix } from "node:path";
import type { Readable } from "node:stream";
import { mergeEnv, SbxError, describeStep, type ImageDefinition, type Step } from "@sbx-sh/protocol";
import type { BuildProgressEvent } from "../domain/build-events.js";
import type { SandboxRuntime } from "../runtime/runtime.js";
import type { LayerStore } from "../layers/layer-store.js";
import type { ImageLayerRef, ImageRecord } from "../domain/records.js";
import { copyArgs } from "./copy-step.js";
import type { SourceImage } from "./copy-from.js";
import { planCopy, planWorkdir, type LayerPlan } from "./host-step.js";
import { executeStep, sourceImage } from "./execute-step.js";
import { BuildSession } from "./build-session.js";
import type { ReadyBlanks } from "./ready-blank.js";
import { baseKey, commitStep, recordConfigStep, stepKey, type StepCache } from "./step-cache.js";

type ImageConfig = ImageRecord["config"];

export interface BuildBase {
  name: string;
  id: string;
  dir: string;
  config: ImageConfig;
  /** Layers above `dir` (bottom first) when the base is itself a layered image (imported, pulled). */
  layers?: ImageLayerRef[];
}

export interface BuilderDeps {
  runtime: SandboxRuntime;
  layers: LayerStore;
  cache: StepCache;
  /** A build context's tar, streamed from the content store. */
  openContext(digest: string): Readable;
  reserveNetSlot(): Promise<number>;
  releaseNetSlot(slot: number): void;
  limits: { cpus: number; memoryMb: number; pidsLimit: number; diskMb: number };
  /** Host uid of a sandbox's root: layers hold host ids, so steps written on the host shift by it. */
  uidBase?: number;
  /** Running sandboxes a build's first executed step may take instead of creating one (./ready-blank.ts). */
  readyBlanks?: ReadyBlanks;
}

export interface BuildOptions {
  noCache: boolean;
  signal: AbortSignal;
  emit(ev: BuildProgressEvent): void;
  /** The images COPY --from steps name, resolved by the caller (by `step.image`). */
  sourceImages?: Map<string, SourceImage>;
  /** Only look: a step that is not in the cache throws NotCached; nothing runs, nothing is written. */
  cacheOnly?: boolean;
  /**
   * The building project: cache keys start from it, so no project reuses (or learns of, through
   * `cached`) a layer another project built, nor poisons another's cache.
   */
  project?: string;
  /**
   * A step's layer has a key of its own (committed so, see step-cache.ts, or found so in the cache):
   * called before any record names it, so the caller keeps it from garbage collection.
   */
  hold?(key: string): void;
}

/** What a cache-only pass (BuildOptions.cacheOnly) throws at the first step it would have to run. */
export class NotCached extends Error {}

export async function runBuild(
  def: ImageDefinition,
  base: BuildBase,
  deps: BuilderDeps,
  opts: BuildOptions,
): Promise<{ layers: ImageLayerRef[]; config: ImageConfig }> {
  const config: ImageConfig = {
    ...base.config,
    env: [...base.config.env],
    workingDir: base.config.workingDir || "/",
    user: base.config.user || "root",
  };
  const layers: ImageLayerRef[] = [];
  let parentKey = baseKey(base.id, opts.project);
  const total = def.steps.length;
  // Finished steps' sandboxes are torn down while the next step runs; the build waits for all.
  const baseLowers = [...(base.layers ?? [])]
    .reverse()
    .map((l) => l.dir)
    .concat(base.dir);
  const session = new BuildSession(deps, { id: base.id, lowers: baseLowers, name: base.name, project: opts.project });
  try {
    for (let i = 0; i < total; i++) {
      if (opts.signal.aborted) throw new SbxError("failed_precondition", "the build was cancelled");
      const step = def.steps[i]!;
      const n = i + 1;
      const text = describeStep(step);
      const key = stepKey(
        parentKey,
        step.op === "copy_from" ? { ...step, image: sourceImage(step.image, opts).id } : step,
      );
      const started = performance.now();
      const hit = opts.noCache ? undefined : await deps.cache.getStepLayer(key);
      const changesFiles =
        step.op === "run" ||
        step.op === "copy" ||
        step.op === "add" ||
        step.op === "copy_from" ||
        step.op === "workdir";
      const cached = hit !== undefined && (!changesFiles || (hit.dir !== null && existsSync(hit.dir)));
      if (opts.cacheOnly && changesFiles && !cached) throw new NotCached(`step ${n} is not cached`);
      opts.emit({ type: "step", step: n, total, text, cached, key });

      let layer: ImageLayerRef | null = null;
      if (!changesFiles) {
        applyConfig(config, step);
        if (!hit && !opts.cacheOnly) await recordConfigStep(deps.cache, key, parentKey, text);
      } else {
        if (step.op === "workdir") config.workingDir = posix.resolve(config.workingDir, step.path);
        if (cached) {
          // The shared sandbox's root lacks this layer: the next executed step starts a new one.
          session.end();
          if (hit.key !== key) opts.hold?.(hit.key);
          layer = {
            key: hit.key,
            digest: hit.digest!,
            dir: hit.dir!,
            sizeBytes: hit.sizeBytes,
            step: text,
            cached: true,
          };
        } else {
          const stack = [...(base.layers ?? []), ...layers]
            .reverse()
            .map((l) => l.dir)
            .concat(base.dir);
          // Written on the host unless a shared sandbox, which a later step needs, is running: its
          // root would not see the layer (a step in it costs less than a new sandbox).
          const keepSandbox =
            session.live && def.steps.slice(i + 1).some((s) => s.op === "run" || s.op === "copy_from");
          const plan = keepSandbox ? null : await planOnHost(step, config, stack, deps);
          if (plan) session.end();
          const made = plan
            ? await deps.layers.write(key, (dir) => plan.write(dir))
            : await executeStep(step, n, config, stack, key, deps, opts, session);
          layer = { ...(await commitStep(deps.cache, key, text, made, opts.hold)), step: text, cached: false };
        }
        layers.push(layer);
      }
      opts.emit({
        type: "step_done",
        step: n,
        cached,
        durationMs: Math.round(performance.now() - started),
        layer: layer && { digest: layer.digest, sizeBytes: layer.sizeBytes },
      });
      // The next step stacks on this very layer: its key chains from the layer's own (a fresh one
      // after a re-executed step), so no cache row ever names a layer made on a different stack.
      parentKey = layer?.key ?? key;
    }
    return { layers, config };
  } finally {
    await session.close();
  }
}

/** WORKDIR and small COPYs are written by the daemon itself when it can (./host-step.ts); null: run a sandbox. */
async function planOnHost(
  step: Step,
  config: ImageConfig,
  lowers: string[],
  deps: BuilderDeps,
): Promise<LayerPlan | null> {
  // Layers of images that keep host ids hold shifted owners: left to the sandbox.
  if (config.systemd) return null;
  const uidBase = deps.uidBase ?? 0;
  if (step.op === "workdir") return planWorkdir(lowers, config.workingDir, uidBase);
  if (step.op !== "copy" && step.op !== "add") return null;
  const [dest, dirDest] = copyArgs(step, config.workingDir);
  return planCopy(lowers, step, { dest: dest!, dirDest: dirDest === "1", uidBase }, () =>
    deps.openContext(step.context),
  );
}

function applyConfig(config: ImageConfig, step: Step): void {
  switch (step.op) {
    case "env":
      config.env = mergeEnv(config.env, { [step.key]: step.value });
      break;
    case "user":
      config.user = step.user;
      break;
    case "entrypoint":
      config.entrypoint = step.args;
      break;
    case "cmd":
      config.cmd = step.args;
      break;
    default:
      break;
  }
}
