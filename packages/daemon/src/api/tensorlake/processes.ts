// Tensorlake per-sandbox process routes (`/api/v1/processes...`, sandbox from the Host or
// X-Tensorlake-Sandbox-Id header) on sbx's process service: run as server-sent events, start,
// list, get, kill, signal, stdin, output (and its follow stream), restart; health and info.
import type { Context } from "hono";
import { z } from "zod";
import { SbxError } from "@sbx-sh/protocol";
import type { StartProcess } from "../../domain/commands.js";
import type { ProcessRecord } from "../../domain/records.js";
import type { Services } from "../../services/services.js";
import type { Api, AppEnv } from "../api-types.js";
import { parse, readJson } from "./common.js";
import { sandboxIdOf } from "./context.js";
import type { TlImageBuilds } from "./image-builds.js";
import { unsupported } from "./lifecycle.js";
import { signalName, signalNumber, tlPid, toTlProcess } from "./shapes.js";
import { LineSplitter, sse, type LineEvent } from "./sse.js";

const User = z.union([
  z.string().min(1),
  z.object({
    name: z.string().min(1).optional(),
    uid: z.number().int().min(0).optional(),
    gid: z.number().int().min(0).optional(),
  }),
]);
const RunBody = z.object({
  command: z.string().min(1),
  args: z.array(z.string()).optional().nullable(),
  env: z.record(z.string(), z.string()).optional().nullable(),
  working_dir: z.string().min(1).optional().nullable(),
  timeout: z.number().positive().optional().nullable(),
  user: User.optional().nullable(),
  stdin_mode: z.enum(["closed", "pipe"]).optional().nullable(),
  stdout_mode: z.enum(["capture", "discard"]).optional().nullable(),
  stderr_mode: z.enum(["capture", "discard"]).optional().nullable(),
  name: z.string().optional().nullable(),
  restart: z.unknown().optional().nullable(),
  health_check: z.unknown().optional().nullable(),
});
const SignalBody = z.object({ signal: z.number().int().min(1).max(64) });

function toStart(body: z.infer<typeof RunBody>): StartProcess {
  if (body.name || body.restart || body.health_check)
    throw unsupported("managed processes (name, restart policy, health checks)");
  const u = body.user;
  const user =
    typeof u === "string" || !u
      ? (u ?? undefined)
      : (u.name ?? (u.uid !== undefined ? `${u.uid}${u.gid !== undefined ? `:${u.gid}` : ""}` : undefined));
  return {
    command: body.command,
    args: body.args ?? [],
    env: body.env ?? undefined,
    workingDir: body.working_dir ?? undefined,
    user,
    timeoutSecs: body.timeout ? Math.ceil(body.timeout) : undefined,
    stdin: body.stdin_mode === "pipe",
  };
}

/** The last event of a run: the exit code, or the signal (the SDK reports −signal). */
function exitEvent(p: { exitCode: number | null; signal: string | null }) {
  const signal = signalNumber(p.signal);
  return signal !== null ? { exit_code: null, signal } : { exit_code: p.exitCode };
}

export function registerTlProcesses(app: Api, s: Services, imageBuilds: TlImageBuilds): void {
  const project = (c: Context<AppEnv>) => c.get("project");

  /** The sbx process behind a Tensorlake pid (all digits) in the request's sandbox. */
  async function find(c: Context<AppEnv>): Promise<ProcessRecord> {
    const raw = c.req.param("pid") ?? "";
    const sandbox = sandboxIdOf(c);
    const list = /^\d{1,10}$/.test(raw) ? await s.processes.list(project(c), sandbox) : [];
    const hit = list.find((p) => tlPid(p.id) === Number(raw));
    if (!hit)
      throw new SbxError("process_not_found", `process ${JSON.stringify(raw)} does not exist in sandbox ${sandbox}`);
    return hit;
  }

  app.post("/api/v1/processes/run", async (c) => {
    const req = toStart(parse(RunBody, await readJson(c)));
    const abort = new AbortController();
    // exec, as sbx's own route: the output is read through the handle that started the process,
    // not attached to again (a round trip to the agent for a command that has often ended already).
    const { process: p, events: output } = await s.processes.exec(project(c), sandboxIdOf(c), req, abort.signal);
    async function* events(): AsyncGenerator<unknown> {
      yield { pid: tlPid(p.id), started_at: Date.parse(p.startedAt) / 1000 };
      const lines = new LineSplitter();
      for await (const e of output) {
        yield* lines.push(e);
        if (e.type === "exit") yield exitEvent(e);
      }
    }
    return sse(events(), abort);
  });

  app.post("/api/v1/processes", async (c) => {
    const req = toStart(parse(RunBody, await readJson(c)));
    // The SDK's image builds start `tl-rootfs-build` in their builder sandbox (image-builds.ts).
    const builder = await imageBuilds.startBuilder(project(c), sandboxIdOf(c), req.command, req.args ?? []);
    return c.json(toTlProcess(builder ?? (await s.processes.start(project(c), sandboxIdOf(c), req))), 200);
  });

  app.get("/api/v1/processes", async (c) => {
    const list = await s.processes.list(project(c), sandboxIdOf(c));
    return c.json({ processes: list.map(toTlProcess) }, 200);
  });

  app.get("/api/v1/processes/:pid", async (c) => c.json(toTlProcess(await find(c)), 200));

  app.delete("/api/v1/processes/:pid", async (c) => {
    const p = await find(c);
    return c.json(toTlProcess(await s.processes.signal(project(c), p.sandboxId, p.id, "SIGKILL")), 200);
  });

  app.post("/api/v1/processes/:pid/signal", async (c) => {
    const { signal } = parse(SignalBody, await readJson(c));
    const name = signalName(signal);
    if (!name) throw new SbxError("invalid_argument", `signal ${signal} is not a signal of this host`);
    const p = await find(c);
    await s.processes.signal(project(c), p.sandboxId, p.id, name);
    return c.json({ success: true }, 200);
  });

  app.post("/api/v1/processes/:pid/stdin", async (c) => {
    const p = await find(c);
    await s.processes.writeStdin(project(c), p.sandboxId, p.id, Buffer.from(await c.req.arrayBuffer()));
    return c.body(null, 204);
  });

  app.post("/api/v1/processes/:pid/stdin/close", async (c) => {
    const p = await find(c);
    await s.processes.closeStdin(project(c), p.sandboxId, p.id);
    return c.body(null, 204);
  });

  app.post("/api/v1/processes/:pid/restart", async (c) => {
    const p = await find(c);
    if (p.status === "running") await s.processes.signal(project(c), p.sandboxId, p.id, "SIGKILL");
    const again = await s.processes.start(project(c), p.sandboxId, {
      command: p.command,
      args: p.args,
      stdin: p.stdin,
    });
    return c.json(toTlProcess(again), 200);
  });

  for (const which of ["stdout", "stderr", "output"] as const) {
    const only = which === "output" ? undefined : which;
    app.get(`/api/v1/processes/:pid/${which}`, async (c) => {
      const p = await find(c);
      const split = new LineSplitter(only);
      const lines: LineEvent[] = [];
      for await (const e of s.processes.output(project(c), p.sandboxId, p.id, false)) lines.push(...split.push(e));
      lines.push(...split.flush());
      return c.json({ pid: tlPid(p.id), lines: lines.map((l) => l.line), line_count: lines.length }, 200);
    });
    app.get(`/api/v1/processes/:pid/${which}/follow`, async (c) => {
      const p = await find(c);
      const abort = new AbortController();
      async function* events(): AsyncGenerator<unknown> {
        const split = new LineSplitter(only);
        for await (const e of s.processes.output(project(c), p.sandboxId, p.id, true, abort.signal))
          yield* split.push(e);
        yield* split.flush();
      }
      return sse(events(), abort);
    });
  }

  app.get("/api/v1/health", async (c) => {
    const sb = await s.sandboxes.get(project(c), sandboxIdOf(c));
    return c.json({ healthy: sb.status === "running" }, 200);
  });

  app.get("/api/v1/info", async (c) => {
    const sb = await s.sandboxes.get(project(c), sandboxIdOf(c));
    const list = await s.processes.list(sb.project, sb.id);
    const since = Date.parse(sb.startedAt ?? sb.createdAt);
    return c.json(
      {
        version: s.version,
        uptime_secs: Math.max(0, Math.floor((Date.now() - since) / 1000)),
        running_processes: list.filter((p) => p.status === "running").length,
        total_processes: list.length,
      },
      200,
    );
  });
}
