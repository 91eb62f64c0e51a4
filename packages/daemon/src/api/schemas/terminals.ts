// Terminals: processes on a pseudo-terminal, their window size and record.
import { z } from "@hono/zod-openapi";
import { TERMINAL_SIZE } from "../../domain/limits.js";
import { StartProcessRequest } from "./processes.js";

const Cols = z.number().int().min(TERMINAL_SIZE.min).max(TERMINAL_SIZE.max);
const Rows = z.number().int().min(TERMINAL_SIZE.min).max(TERMINAL_SIZE.max);

export const CreateTerminalRequest = z
  .strictObject({
    command: z.string().min(1).optional().openapi({ description: "default: bash if the image has it, else sh" }),
    args: StartProcessRequest.shape.args,
    env: StartProcessRequest.shape.env.openapi({ description: "TERM defaults to xterm-256color" }),
    workingDir: StartProcessRequest.shape.workingDir,
    user: StartProcessRequest.shape.user,
    cols: Cols,
    rows: Rows,
  })
  .openapi("CreateTerminalRequest");

export const ResizeTerminalRequest = z.strictObject({ cols: Cols, rows: Rows }).openapi("ResizeTerminalRequest");

export const Terminal = z
  .object({
    id: z.string(),
    sandboxId: z.string(),
    command: z.string(),
    args: z.array(z.string()),
    cols: z.number(),
    rows: z.number(),
    status: z.enum(["running", "exited"]),
    exitCode: z.number().nullable(),
    attached: z.number().openapi({ description: "WebSocket clients attached now" }),
    createdAt: z.string(),
    endedAt: z.string().nullable(),
  })
  .openapi("Terminal");

export const TerminalList = z.object({ terminals: z.array(Terminal) }).openapi("TerminalList");

export type CreateTerminalRequestT = z.infer<typeof CreateTerminalRequest>;
export type TerminalT = z.infer<typeof Terminal>;
