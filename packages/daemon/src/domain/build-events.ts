// What a build reports while it runs: the builder's progress (a step starts, prints, ends) and
// the build service's bookends (the build record at the start, the record and image at the end).
// The service keeps them in memory and in the build's event log so a late follower replays them;
// api/ turns them into the wire's BuildEvent.
import type { BuildRecord, ImageRecord } from "./records.js";

export type BuildProgressEvent =
  | { type: "step"; step: number; total: number; text: string; cached: boolean; key: string }
  | { type: "log"; step: number; stream: "stdout" | "stderr"; data: string }
  | {
      type: "step_done";
      step: number;
      cached: boolean;
      durationMs: number;
      layer: { digest: string; sizeBytes: number } | null;
    };

export type BuildEvent =
  | { type: "build"; build: BuildRecord }
  | BuildProgressEvent
  /** The image registered (or already registered under that name), null when the build failed. */
  | { type: "done"; build: BuildRecord; image: ImageRecord | null };
