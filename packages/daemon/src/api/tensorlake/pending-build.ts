// One Tensorlake template build the daemon holds between prepare and complete: its plan, the log
// the builder sandbox's relay replays, and the image it settles with. ./image-builds.ts keeps them;
// ./builder-relay.ts feeds one to the builder sandbox.
import type { ImageRecord } from "../../domain/records.js";
import type { LogChannel } from "./log-channel.js";
import type { TlBuildPlan } from "./build-plan.js";

export interface Pending {
  project: string;
  buildId: string;
  plan: TlBuildPlan;
  /** The builds' log, as the lines the relay replays. */
  log: LogChannel;
  /** Settles with the registered image, or rejects with the build's failure. */
  image: Promise<ImageRecord>;
  settle: { resolve(img: ImageRecord): void; reject(err: unknown): void };
  started: boolean;
  /** A builder sandbox started `tl-rootfs-build` for it. */
  attached?: boolean;
  /** The sbx build running now (cancelled if the builder sandbox goes away). */
  current?: string;
  /** Why the build was given up (its builder sandbox ended first); it stops there. */
  abandoned?: string;
  preparedAt: number;
  /** When the image was registered or the failure recorded (the purge's clock for it). */
  settledAt?: number;
}
