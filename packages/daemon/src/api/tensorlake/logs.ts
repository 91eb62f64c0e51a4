// Tensorlake's sandbox logs (`/v1/namespaces/{ns}/sandboxes/{id}/logs` and `/processes`, on the API
// host, camelCase), synthesized from the output sbx keeps of each process: one record per line,
// stdout at level info (3) and stderr at error (5), stamped with the process's start (sbx keeps no
// per-line times). Filters: level, processId (the integer pid), body (substring), head, tail.
import { createHash } from "node:crypto";
import type { Context } from "hono";
import type { ProcessRecord } from "../../domain/records.js";
import type { Services } from "../../services/services.js";
import type { Api, AppEnv } from "../api-types.js";
import { tlPid } from "./shapes.js";
import { LineSplitter } from "./sse.js";

/** The SDK's levels are trace, debug, info, warn, error, fatal = 1..6 on the wire. */
const LEVEL = { stdout: 3, stderr: 5 } as const;

/** A stable UUID per line (the SDK parses it as one): a hash of the process and the line number. */
function lineUuid(procId: string, line: number): string {
  const h = createHash("sha256").update(`${procId}/${line}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

async function linesOf(s: Services, project: string, p: ProcessRecord) {
  const split = new LineSplitter();
  const out = [];
  for await (const e of s.processes.output(project, p.sandboxId, p.id, false)) out.push(...split.push(e));
  out.push(...split.flush());
  return out;
}

export function registerTlLogs(app: Api, s: Services): void {
  const base = "/v1/namespaces/:ns/sandboxes/:id";

  app.get(`${base}/logs`, async (c: Context<AppEnv>) => {
    const project = c.get("project");
    const sb = await s.sandboxes.get(project, c.req.param("id") ?? "");
    const levels = new Set((c.req.queries("level") ?? []).map(Number));
    const pids = new Set(c.req.queries("processId") ?? []);
    const body = c.req.query("body");
    const logs: Array<Record<string, unknown>> = [];
    for (const p of await s.processes.list(project, sb.id)) {
      const pid = String(tlPid(p.id));
      if (pids.size && !pids.has(pid)) continue;
      const lines = await linesOf(s, project, p);
      lines.forEach((l, i) => {
        const level = LEVEL[l.stream];
        if ((levels.size && !levels.has(level)) || (body && !l.line.includes(body))) return;
        logs.push({
          timestamp: Date.parse(p.startedAt),
          uuid: lineUuid(p.id, i),
          namespace: sb.project,
          application: "sandbox",
          sandboxId: sb.id,
          resourceAttributes: [
            ["sandbox_id", sb.id],
            ["process_id", pid],
          ] as Array<[string, string]>,
          body: l.line,
          logAttributes: JSON.stringify({ stream: l.stream, process_id: pid }),
          level,
        });
      });
    }
    const head = Number(c.req.query("head") ?? "0");
    const tail = Number(c.req.query("tail") ?? "0");
    const page = head > 0 ? logs.slice(0, head) : tail > 0 ? logs.slice(-tail) : logs;
    return c.json({ logs: page }, 200);
  });

  app.get(`${base}/processes`, async (c: Context<AppEnv>) => {
    const project = c.get("project");
    const sb = await s.sandboxes.get(project, c.req.param("id") ?? "");
    const processes = [];
    for (const p of await s.processes.list(project, sb.id)) {
      const pid = String(tlPid(p.id));
      processes.push({
        processId: pid,
        processPid: pid,
        processCommand: [p.command, ...p.args].join(" "),
        processManagedId: "",
        processManagedName: "",
        firstSeen: Date.parse(p.startedAt),
        lastSeen: Date.parse(p.endedAt ?? new Date().toISOString()),
        logCount: (await linesOf(s, project, p)).length,
      });
    }
    return c.json({ processes }, 200);
  });
}
