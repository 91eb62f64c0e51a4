// Snapshot records as the API describes them: the depth of the stack, not its layer dirs.
import type { SnapshotInfo } from "@sbx-sh/protocol";
import type { SnapshotRecord } from "../../domain/records.js";

export function toSnapshot(s: SnapshotRecord): SnapshotInfo {
  return {
    id: s.id,
    project: s.project,
    type: s.type,
    status: s.status,
    sourceSandboxId: s.sourceSandboxId,
    sourceImage: s.sourceImage,
    sourceImageId: s.sourceImageId,
    parentSnapshotId: s.parentSnapshotId,
    layers: s.layers.length,
    sizeBytes: s.sizeBytes,
    error: s.error,
    createdAt: s.createdAt,
    completedAt: s.completedAt,
  };
}
