// The HTTP contract of sandbox pools (sbx pool create/ls/rm, Sandbox.create({ pool })).
import { z } from "@hono/zod-openapi";

export const CreatePoolRequest = z
  .strictObject({
    image: z.string().min(1).optional().openapi({ description: "image name; default: the daemon's default image" }),
    cpus: z.number().positive().optional(),
    memoryMb: z.number().int().positive().optional(),
    diskMb: z.number().int().positive().optional(),
    timeoutSecs: z.number().int().min(0).optional(),
    allowInternetAccess: z.boolean().optional(),
    warm: z.number().int().openapi({ description: "sandboxes kept warm, 0-16" }),
    max: z.number().int().nullable().optional().openapi({ description: "most claimed at once; at least warm" }),
  })
  .openapi("CreatePoolRequest");

export const Pool = z
  .object({
    id: z.string(),
    project: z.string(),
    image: z.string().nullable(),
    cpus: z.number().nullable(),
    memoryMb: z.number().nullable(),
    diskMb: z.number().nullable(),
    timeoutSecs: z.number().nullable(),
    allowInternetAccess: z.boolean(),
    warm: z.number(),
    max: z.number().nullable(),
    ready: z.number().openapi({ description: "warm sandboxes ready now, of the image the name points at now" }),
    claims: z.number(),
    hits: z.number().openapi({ description: "claims served from a warm sandbox" }),
    misses: z.number(),
    claimP50Ms: z.number().nullable().openapi({ description: "median claim latency of the last 100 claims" }),
    createdAt: z.string().nullable(),
  })
  .openapi("Pool");

export const PoolList = z.object({ pools: z.array(Pool) }).openapi("PoolList");
