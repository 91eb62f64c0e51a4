// Resource use of running sandboxes.
import { z } from "@hono/zod-openapi";

export const SandboxUsage = z
  .object({
    sandboxId: z.string(),
    name: z.string().nullable(),
    image: z.string(),
    time: z.string(),
    cpuPercent: z.number().openapi({ description: "percent of one core since the previous reading, or since start" }),
    cpuUsec: z.number().int(),
    memoryBytes: z.number().int(),
    memoryLimitBytes: z.number().int().nullable(),
    pids: z.number().int(),
    diskBytes: z.number().int(),
    diskLimitBytes: z.number().int().nullable(),
    netRxBytes: z.number().int(),
    netTxBytes: z.number().int(),
    startedAt: z.string().nullable(),
  })
  .openapi("SandboxUsage");

export const StatsQuery = z.object({
  ids: z
    .string()
    .max(4096)
    .optional()
    .openapi({ description: "comma-separated sandbox ids or names (default: every running sandbox)" }),
});
