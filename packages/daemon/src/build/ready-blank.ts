// The first executed step of a build on a sandbox that is already running. A warm-pool blank of
// the build's base is a build sandbox in all but its limits: the same overlay stack of the same
// layers, the agent as PID 1, a veth with an open policy (or none), an empty writable layer. So
// a build on such a base takes one and only applies its own limits (a crun update and a tmpfs
// remount) instead of paying a whole sandbox create (mounts, crun create, veth, crun start) before
// its first command. The pool refills behind it once the build is over; the build destroys the blank
// when it is done with it, like its own sandboxes, and a daemon killed meanwhile leaves it to the
// reconcile on start (which removes every sandbox the store does not know). A build that executes
// nothing (every step cached) never takes one.
import { specFor, type SandboxSpec } from "../domain/sandbox-spec.js";
import type { BuilderDeps } from "./builder.js";

/** A ready sandbox as the warm pool hands it out: its spec says its id, lowers and network slot. */
export interface ReadyBlank {
  spec: SandboxSpec;
}

/** Where a build finds ready sandboxes (the daemon's warm pool). */
export interface ReadyBlanks {
  /** A blank of this image with (or without) a network, if one is ready; its slot stays reserved. */
  take(imageId: string, network: boolean): ReadyBlank | undefined;
  /** Destroys a blank that was taken but not used, and gives back its slot. */
  discard(blank: ReadyBlank): Promise<void>;
  /**
   * A build executes a networked step on its bare base (`ref` as the build named it): keep a blank
   * of it ready for the next build (services/build-base-blanks.ts).
   */
  remember?(base: { project: string; ref: string; imageId: string }): void;
  /**
   * The build that took blanks is over: make their replacements now. Never beside its steps: a
   * blank made while a step runs (mounts, crun, a veth) competes with it and with the daemon's API.
   */
  refill?(): void;
}

export interface BlankWant {
  imageId: string;
  lowers: string[];
  network: boolean;
  env: string[];
}

/**
 * A ready blank made into this build's sandbox, or undefined (none ready, or it could not be
 * reconfigured: then it is gone and the caller creates a sandbox as usual).
 */
export async function claimReadyBlank(
  deps: BuilderDeps,
  want: BlankWant,
): Promise<{ id: string; slot: number | null } | undefined> {
  const blank = deps.readyBlanks?.take(want.imageId, want.network);
  if (!blank) return undefined;
  const from = blank.spec;
  // The image id names its layers; a stack that differs anyway (never expected) is not the build's.
  if (from.lowers.length !== want.lowers.length || from.lowers.some((l, i) => l !== want.lowers[i])) {
    await deps.readyBlanks!.discard(blank);
    return undefined;
  }
  const to = specFor({
    kind: "build-step",
    id: from.id,
    lowers: want.lowers,
    env: want.env,
    limits: deps.limits,
    netSlot: from.netSlot,
    hostIds: false,
  });
  try {
    await deps.runtime.reconfigure(from, to);
  } catch {
    await deps.readyBlanks!.discard(blank);
    return undefined;
  }
  return { id: from.id, slot: from.netSlot };
}
