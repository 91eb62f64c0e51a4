// What a warm pool (./warm-pool.ts) keeps: its targets (the default pool, sandbox pools, build
// bases), the blanks it made for them, and which ready blanks no target wants any more.
import type { SandboxSpec } from "../domain/sandbox-spec.js";
import type { ResolvedImage } from "./images.js";

export interface Blank {
  spec: SandboxSpec;
  image: ResolvedImage;
  /** The target it was made for. */
  target: string;
}

/** Keep `count` blanks of `image` (a name in `project`; undefined: the default image) per network variant. */
export interface PoolTarget {
  project: string;
  image: string | undefined;
  count: number;
  networks: boolean[];
  /**
   * Only while `image` resolves to this id: a pinned target (a build base, ./build-base-blanks.ts)
   * is dropped, not re-pointed, when its name resolves to another image or to none, or when its
   * blank cannot be made.
   */
  imageId?: string;
  /** Its blanks' limits when not a sandbox's defaults (a build base's are a build step's). */
  limits?: { cpus: number; memoryMb: number; pidsLimit: number; diskMb: number };
}

export const DEFAULT_TARGET = "default";

/**
 * The ready blanks no target wants: their target is gone, its name resolves to another image now
 * (`current`: target → image id at this fill), or they are beyond its count.
 */
export function unwanted(ready: Blank[], targets: Map<string, PoolTarget>, current: Map<string, string>): Blank[] {
  const seen = new Map<string, number>();
  return ready.filter((b) => {
    const t = targets.get(b.target);
    const variant = `${b.target}/${b.image.id}/${b.spec.netSlot !== null}`;
    const n = (seen.get(variant) ?? 0) + 1;
    seen.set(variant, n);
    return !(t && current.get(b.target) === b.image.id && n <= t.count);
  });
}
