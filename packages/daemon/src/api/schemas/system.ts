// The daemon itself, projects and API tokens.
import { z } from "@hono/zod-openapi";

export const DaemonInfo = z
  .object({
    version: z.string(),
    runtime: z.string(),
    cgroupVersion: z.union([z.literal(1), z.literal(2)]),
    dataDir: z.string().optional().openapi({
      description: "The host's data directory: over the unix socket only, never to a token holder over TCP",
    }),
    sandboxesRunning: z.number(),
  })
  .openapi("DaemonInfo");

export const Project = z.object({ name: z.string(), createdAt: z.string() }).openapi("Project");
export const CreateProjectRequest = z.strictObject({ name: z.string() }).openapi("CreateProjectRequest");
export const Token = z
  .object({ id: z.string(), project: z.string(), token: z.string().optional(), createdAt: z.string() })
  .openapi("Token");

export type DaemonInfoT = z.infer<typeof DaemonInfo>;
