// Process routes: start (background or streamed), list, get, output, signal, stdin.
import { createRoute, z } from "@hono/zod-openapi";
import type { Services } from "../../services/services.js";
import type { Api } from "../api-types.js";
import { ErrorBody, OutputEvent, Process, ProcessList, SignalRequest, StartProcessRequest } from "../schemas/index.js";
import { toProcess } from "../mappers/sandboxes.js";
import { json, jsonBody, ndjson } from "./common.js";
import { SandboxParams } from "./sandboxes.js";

/**
 * How long an exec's `started` line waits for the next (ndjson-out.ts): a command that ends within
 * it is answered in one write (one TCP segment from a node to its control plane, not two or three).
 */
const EXEC_HOLD_FIRST_MS = 2;

const ProcParams = SandboxParams.extend({ pid: z.string().min(1).max(64) });
const ndjsonBody = (description: string) => ({
  content: { "application/x-ndjson": { schema: OutputEvent } },
  description,
});

export function registerProcessRoutes(app: Api, s: Services): void {
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/sandboxes/{id}/processes",
      summary: "Start a process in the background",
      request: { params: SandboxParams, ...jsonBody(StartProcessRequest) },
      responses: {
        201: json(Process, "started"),
        404: json(ErrorBody, "unknown sandbox"),
        409: json(ErrorBody, "sandbox not running"),
      },
    }),
    async (c) =>
      c.json(toProcess(await s.processes.start(c.get("project"), c.req.valid("param").id, c.req.valid("json"))), 201),
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/sandboxes/{id}/exec",
      summary: "Run a process and stream its output until it exits",
      description:
        'NDJSON: `{"type":"started","process":...}`, then OutputEvents, ending with the exit event. The process keeps running if the client goes away.',
      request: { params: SandboxParams, ...jsonBody(StartProcessRequest) },
      responses: { 200: ndjsonBody("events"), 404: json(ErrorBody, "unknown sandbox") },
    }),
    async (c) => {
      const project = c.get("project");
      const { id } = c.req.valid("param");
      const abort = new AbortController();
      const run = await s.processes.exec(project, id, c.req.valid("json"), abort.signal);
      async function* events(): AsyncGenerator<unknown> {
        yield { type: "started", process: toProcess(run.process) };
        yield* run.events;
      }
      return ndjson(events(), abort, c, EXEC_HOLD_FIRST_MS) as never;
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/sandboxes/{id}/processes",
      summary: "List processes",
      request: { params: SandboxParams },
      responses: { 200: json(ProcessList, "processes") },
    }),
    async (c) =>
      c.json({ processes: (await s.processes.list(c.get("project"), c.req.valid("param").id)).map(toProcess) }, 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/sandboxes/{id}/processes/{pid}",
      summary: "Get a process",
      request: { params: ProcParams },
      responses: { 200: json(Process, "process"), 404: json(ErrorBody, "unknown") },
    }),
    async (c) => {
      const { id, pid } = c.req.valid("param");
      return c.json(toProcess(await s.processes.get(c.get("project"), id, pid)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/sandboxes/{id}/processes/{pid}/output",
      summary: "Output so far; with follow=1, also new output until the process exits",
      request: { params: ProcParams, query: z.object({ follow: z.enum(["0", "1", "true", "false"]).optional() }) },
      responses: { 200: ndjsonBody("events"), 404: json(ErrorBody, "unknown") },
    }),
    async (c) => {
      const { id, pid } = c.req.valid("param");
      const project = c.get("project");
      await s.processes.get(project, id, pid);
      const follow = ["1", "true"].includes(c.req.valid("query").follow ?? "");
      const abort = new AbortController();
      return ndjson(s.processes.output(project, id, pid, follow, abort.signal), abort) as never;
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/sandboxes/{id}/processes/{pid}/signal",
      summary: "Send a signal",
      request: { params: ProcParams, ...jsonBody(SignalRequest) },
      responses: { 200: json(Process, "process") },
    }),
    async (c) => {
      const { id, pid } = c.req.valid("param");
      return c.json(toProcess(await s.processes.signal(c.get("project"), id, pid, c.req.valid("json").signal)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/sandboxes/{id}/processes/{pid}/stdin",
      summary: "Write bytes to the process's stdin",
      request: {
        params: ProcParams,
        body: { content: { "application/octet-stream": { schema: z.string().openapi({ format: "binary" }) } } },
      },
      responses: { 204: { description: "written" }, 412: json(ErrorBody, "no stdin") },
    }),
    async (c) => {
      const { id, pid } = c.req.valid("param");
      await s.processes.writeStdin(c.get("project"), id, pid, Buffer.from(await c.req.arrayBuffer()));
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/sandboxes/{id}/processes/{pid}/stdin",
      summary: "Close the process's stdin",
      request: { params: ProcParams },
      responses: { 204: { description: "closed" } },
    }),
    async (c) => {
      const { id, pid } = c.req.valid("param");
      await s.processes.closeStdin(c.get("project"), id, pid);
      return c.body(null, 204);
    },
  );
}
