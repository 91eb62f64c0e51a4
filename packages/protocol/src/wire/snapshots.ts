// Snapshots on the wire.

export type SnapshotType = "filesystem" | "memory";

export interface SnapshotInfo {
  id: string;
  project: string;
  type: SnapshotType;
  status: "in_progress" | "completed" | "failed";
  sourceSandboxId: string;
  sourceImage: string;
  sourceImageId: string;
  parentSnapshotId: string | null;
  /** Depth of the layer stack above the base. */
  layers: number;
  sizeBytes: number;
  error: string | null;
  createdAt: string;
  completedAt: string | null;
}
