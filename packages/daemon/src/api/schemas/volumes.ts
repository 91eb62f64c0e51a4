// Volumes: the create request, the volume as answered (usage and holders), and a mount in a create.
import { z } from "@hono/zod-openapi";
import { VOLUME_SIZE_MB } from "../../domain/volume-rules.js";

export const VolumeMount = z
  .strictObject({
    name: z.string().min(1).max(63).openapi({ description: "a volume of the project" }),
    path: z.string().min(1).max(4096).openapi({ description: "absolute path in the sandbox, e.g. /data" }),
    readOnly: z
      .boolean()
      .optional()
      .openapi({ description: "read-only (any number of sandboxes); default read-write (one at a time)" }),
  })
  .openapi("VolumeMount");

export const CreateVolumeRequest = z
  .strictObject({
    name: z.string().min(1).max(63),
    sizeMb: z
      .number()
      .int()
      .min(VOLUME_SIZE_MB.min)
      .max(VOLUME_SIZE_MB.max)
      .optional()
      .openapi({ description: `size cap in MiB; default ${VOLUME_SIZE_MB.default}` }),
  })
  .openapi("CreateVolumeRequest");

export const VolumeUser = z
  .object({
    sandboxId: z.string(),
    sandboxName: z.string().nullable(),
    status: z.string(),
    path: z.string(),
    readOnly: z.boolean(),
  })
  .openapi("VolumeUser");

export const Volume = z
  .object({
    id: z.string(),
    name: z.string(),
    project: z.string(),
    sizeMb: z.number(),
    usedBytes: z.number(),
    capacityBytes: z.number().openapi({ description: "what the filesystem holds: a little below the cap" }),
    mountedBy: z.array(VolumeUser).openapi({ description: "sandboxes holding it (suspended ones too)" }),
    createdAt: z.string(),
  })
  .openapi("Volume");

export const VolumeList = z.object({ volumes: z.array(Volume) }).openapi("VolumeList");
