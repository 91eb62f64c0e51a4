// Processes: starting one, its record, signals, and the NDJSON lines of its output stream.
import { z } from "@hono/zod-openapi";
import { LIMITS } from "../../domain/limits.js";
import { EnvMap, ExecString } from "./common.js";

export const ProcessStatus = z.enum(["running", "exited"]);

export const StartProcessRequest = z
  .strictObject({
    command: ExecString.min(1),
    args: z.array(ExecString).optional(),
    env: EnvMap.optional(),
    workingDir: ExecString.optional(),
    user: z
      .string()
      .regex(
        /^(\d+|[a-z_][a-z0-9_-]*)(:(\d+|[a-z_][a-z0-9_-]*))?$/,
        "user is root, a uid, uid:gid, or a user name (name:group)",
      )
      .optional(),
    timeoutSecs: z.number().int().min(1).max(LIMITS.timeoutSecs.max).optional(),
    stdin: z.boolean().optional().openapi({ description: "keep stdin open for POST .../stdin" }),
  })
  .openapi("StartProcessRequest");

export const Process = z
  .object({
    id: z.string(),
    sandboxId: z.string(),
    command: z.string(),
    args: z.array(z.string()),
    status: ProcessStatus,
    exitCode: z.number().nullable(),
    signal: z.string().nullable(),
    timedOut: z.boolean(),
    stdin: z.boolean(),
    startedAt: z.string(),
    endedAt: z.string().nullable(),
  })
  .openapi("Process");

export const ProcessList = z.object({ processes: z.array(Process) }).openapi("ProcessList");

export const SignalRequest = z
  .strictObject({
    signal: z
      .string()
      .regex(/^(SIG)?[A-Z0-9]+$/)
      .default("SIGTERM"),
  })
  .openapi("SignalRequest");

/** One line of an output stream (NDJSON): a chunk of stdout/stderr (base64) or the final exit. */
export const OutputEvent = z
  .discriminatedUnion("type", [
    z.object({ type: z.literal("stdout"), data: z.string().openapi({ description: "base64" }) }),
    z.object({ type: z.literal("stderr"), data: z.string().openapi({ description: "base64" }) }),
    z.object({
      type: z.literal("exit"),
      exitCode: z.number().nullable(),
      signal: z.string().nullable(),
      timedOut: z.boolean(),
    }),
  ])
  .openapi("OutputEvent");

export type StartProcessRequest = z.infer<typeof StartProcessRequest>;
export type ProcessT = z.infer<typeof Process>;
export type OutputEventT = z.infer<typeof OutputEvent>;
