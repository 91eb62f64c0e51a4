// The record of a snapshot being taken, before it has a layer: what it was taken of (the sandbox,
// its image, the snapshot it was started from), the stack it will stand on, and the run config a
// sandbox restored from it gets (the sandbox's, less its entrypoint and command).
import type { SandboxRecord, SnapshotRecord } from "../domain/records.js";

export function takingSnapshot(
  id: string,
  sb: SandboxRecord,
  source: { baseDir: string; baseImage: string },
  forSuspend: boolean,
  forFork = false,
): SnapshotRecord {
  return {
    id,
    project: sb.project,
    type: "filesystem",
    status: "in_progress",
    sourceSandboxId: sb.id,
    sourceImage: sb.image,
    sourceImageId: sb.imageId,
    parentSnapshotId: sb.snapshotId ?? null,
    forSuspend,
    ...(forFork ? { forFork } : {}),
    layers: [],
    baseDir: source.baseDir,
    baseImage: source.baseImage,
    config: {
      env: sb.config.env,
      workingDir: sb.config.workingDir,
      user: sb.config.user,
      entrypoint: null,
      cmd: null,
      systemd: sb.config.systemd ?? false,
    },
    sizeBytes: 0,
    error: null,
    createdAt: new Date().toISOString(),
    completedAt: null,
  };
}
