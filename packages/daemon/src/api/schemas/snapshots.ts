// Snapshots, forks, and images registered from snapshots.
import { z } from "@hono/zod-openapi";

export const Snapshot = z
  .object({
    id: z.string(),
    project: z.string(),
    type: z.enum(["filesystem", "memory"]),
    status: z.enum(["in_progress", "completed", "failed"]),
    sourceSandboxId: z.string(),
    sourceImage: z.string(),
    sourceImageId: z.string(),
    parentSnapshotId: z.string().nullable(),
    layers: z.number().openapi({ description: "depth of the layer stack above the base" }),
    sizeBytes: z.number(),
    error: z.string().nullable(),
    createdAt: z.string(),
    completedAt: z.string().nullable(),
  })
  .openapi("Snapshot");

export const CreateSnapshotRequest = z
  .strictObject({ type: z.enum(["filesystem", "memory"]).optional() })
  .openapi("CreateSnapshotRequest");
export const CopySandboxRequest = z
  .strictObject({
    times: z.number().int().min(1).max(50).default(1),
    keepSnapshot: z
      .boolean()
      .optional()
      .openapi({ description: "keep the snapshot the copies are made from (deleted by default)" }),
  })
  .openapi("CopySandboxRequest");
export const RegisterImageRequest = z
  .strictObject({
    name: z.string(),
    tag: z.string().optional(),
    snapshotId: z.string(),
    replace: z.boolean().optional(),
  })
  .openapi("RegisterImageRequest");
export type SnapshotT = z.infer<typeof Snapshot>;
