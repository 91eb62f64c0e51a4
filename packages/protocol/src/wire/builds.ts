// Image builds and images on the wire: starting a build, its record, its NDJSON event stream,
// and the images a build registers.
import type { ImageDefinition, StepSource } from "../build-ir.js";

export type BuildState = "queued" | "running" | "succeeded" | "failed" | "cancelled";

export interface CreateBuildRequest {
  definition: ImageDefinition;
  /** Name to register; defaults to the definition's name. */
  registeredName?: string | undefined;
  tag?: string | undefined;
  replace?: boolean | undefined;
  noCache?: boolean | undefined;
  /** Where a cluster control plane may run the build (nodes with these labels); refused by a single daemon. */
  placement?: { nodeSelector?: Record<string, string> | undefined } | undefined;
}

export interface BuildFailure {
  /** 1-based step number, null when the build failed outside a step. */
  step: number | null;
  text: string | null;
  source: StepSource | null;
  exitCode: number | null;
  message: string;
  lastLines: string[];
  /** Error code when the build failed outside a step's command, e.g. no_space. */
  code?: string | undefined;
}

export interface BuildInfo {
  id: string;
  project: string;
  imageName: string;
  tag: string;
  state: BuildState;
  steps: number;
  imageId: string | null;
  failure: BuildFailure | null;
  createdAt: string;
  startedAt: string | null;
  endedAt: string | null;
}

/** One line of a build's event stream; the same events replay for a late follower. */
export type BuildEvent =
  | { type: "build"; build: BuildInfo }
  | { type: "step"; step: number; total: number; text: string; cached: boolean; key: string }
  | { type: "log"; step: number; stream: "stdout" | "stderr"; data: string }
  | {
      type: "step_done";
      step: number;
      cached: boolean;
      durationMs: number;
      layer: { digest: string; sizeBytes: number } | null;
    }
  | { type: "done"; build: BuildInfo; image: ImageInfo | null };

export interface ImageLayer {
  digest: string;
  key: string;
  sizeBytes: number;
  step: string;
  cached: boolean;
}

export interface ImageConfig {
  env: string[];
  workingDir: string;
  user: string;
  entrypoint: string[] | null;
  cmd: string[] | null;
  systemd: boolean;
}

/** An image with its layers and config (base and built alike). */
/** A base image recipe on the daemon's host: built, built on first use, or not buildable there (and why). */
export interface BaseImageState {
  name: string;
  state: "ready" | "buildable" | "unavailable";
  reason?: string;
}

export interface ImageInfo {
  name: string;
  tag: string;
  id: string;
  project: string | null;
  kind: "base" | "built";
  baseImage: string | null;
  sizeBytes: number;
  layers: ImageLayer[];
  config: ImageConfig;
  buildId: string | null;
  /** userns (default) or host-ids (systemd images on cgroup v1 hosts). */
  isolation: string;
  createdAt: string;
}
