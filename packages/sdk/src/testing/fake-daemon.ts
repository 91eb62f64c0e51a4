// Test double of sbxd for the SDK and CLI unit tests: a few routes of docs/api.md on a unix socket
// in a temp dir, with scripted commands instead of real processes and a temp dir as every
// sandbox's filesystem. Not shipped (tsconfig.build excludes testing/).
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { Readable } from "node:stream";
import * as tar from "tar";
import type { OutputEvent, ProcessInfo, SandboxInfo } from "@sbx-sh/protocol";
import { FakeBuilds } from "./fake-builds.js";

type Req = IncomingMessage;
type Res = ServerResponse;

export interface Recorded {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

class FakeProc {
  readonly events: OutputEvent[] = [];
  readonly listeners = new Set<(ev: OutputEvent) => void>();
  record: ProcessInfo;
  onStdin?: (data: Buffer | null) => void;
  onSignal?: (sig: string) => void;

  constructor(sandboxId: string, id: string, body: { command: string; args?: string[]; stdin?: boolean }) {
    this.record = {
      id,
      sandboxId,
      command: body.command,
      args: body.args ?? [],
      status: "running",
      exitCode: null,
      signal: null,
      timedOut: false,
      stdin: !!body.stdin,
      startedAt: new Date().toISOString(),
      endedAt: null,
    };
  }

  emit(ev: OutputEvent): void {
    this.events.push(ev);
    for (const l of this.listeners) l(ev);
  }

  out(stream: "stdout" | "stderr", text: string | Buffer): void {
    this.emit({ type: stream, data: Buffer.from(text).toString("base64") });
  }

  exit(exitCode: number | null, signal: string | null = null, timedOut = false): void {
    if (this.record.status === "exited") return;
    this.record = { ...this.record, status: "exited", exitCode, signal, timedOut, endedAt: new Date().toISOString() };
    this.emit({ type: "exit", exitCode, signal, timedOut });
  }
}

export class FakeDaemon {
  readonly dir = mkdtempSync(join(tmpdir(), "sbx-fake-"));
  readonly socketPath = join(this.dir, "sbxd.sock");
  readonly requests: Recorded[] = [];
  readonly sandboxes = new Map<string, SandboxInfo>();
  readonly procs = new Map<string, FakeProc>();
  /** When set, GET /archive answers these bytes (to test hostile tars). */
  archiveOverride: Buffer | undefined;
  /** Contexts, builds and images (see fake-builds.ts). */
  readonly builds = new FakeBuilds();
  private server: Server | undefined;
  private seq = 0;

  get host(): string {
    return `unix://${this.socketPath}`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) =>
        send(res, 500, { error: { code: "internal", message: String(err) } }),
      );
    });
    await new Promise<void>((resolve) => this.server!.listen(this.socketPath, resolve));
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    rmSync(this.dir, { recursive: true, force: true });
  }

  rootOf(id: string): string {
    return join(this.dir, "roots", id);
  }

  private async handle(req: Req, res: Res): Promise<void> {
    const url = new URL(req.url ?? "/", "http://x");
    const isRaw =
      (/\/(stdin|files|archive)$/.test(url.pathname) || url.pathname.startsWith("/v1/contexts/")) &&
      (req.method === "POST" || req.method === "PUT");
    const raw = await readBody(req);
    this.requests.push({
      method: req.method ?? "",
      url: req.url ?? "",
      headers: req.headers,
      body: isRaw ? `<${raw.length} bytes>` : raw.toString(),
    });
    const json = () => JSON.parse(raw.toString() || "{}") as Record<string, unknown>;
    const p = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
    const m = `${req.method} /${p
      .slice(1)
      .map((s, i, a) => (i === 1 || (i === 3 && a[2] === "processes") ? ":" : s))
      .join("/")}`;
    if (p[1] === "contexts" || p[1] === "builds" || p[1] === "images")
      return this.builds.handle(
        req.method ?? "",
        p.slice(1),
        url.searchParams,
        raw,
        String(req.headers["x-sbx-project"] ?? "default"),
        res,
      );
    if (m === "GET /info")
      return send(res, 200, {
        version: "0.0.0-fake",
        runtime: "crun",
        cgroupVersion: 2,
        dataDir: this.dir,
        sandboxesRunning: this.sandboxes.size,
      });
    if (m === "GET /sandboxes") {
      const all = [...this.sandboxes.values()].filter(
        (s) => url.searchParams.get("all") === "1" || s.status !== "terminated",
      );
      return send(res, 200, { sandboxes: all });
    }
    if (m === "POST /sandboxes") {
      const body = json();
      if (typeof body.cpus === "number" && body.cpus > 64)
        return send(res, 400, { error: { code: "out_of_range", message: "cpus must be at most 64" } });
      return send(res, 201, this.createSandbox(body, String(req.headers["x-sbx-project"] ?? "default")));
    }
    const sb = p[2] ? [...this.sandboxes.values()].find((s) => s.id === p[2] || s.name === p[2]) : undefined;
    if (!sb) return send(res, 404, { error: { code: "sandbox_not_found", message: `no sandbox ${p[2]}` } });
    const root = this.rootOf(sb.id);
    const path = url.searchParams.get("path") ?? "/";
    const proc = p[4] ? this.procs.get(p[4]) : undefined;
    switch (m) {
      case "GET /sandboxes/:":
        return send(res, 200, sb);
      case "PATCH /sandboxes/:/network": {
        const body = json() as { allowOut?: string[]; denyOut?: string[] };
        if (body.allowOut) sb.allowOut = sb.egressEntries.allowOut = body.allowOut;
        if (body.denyOut) sb.denyOut = sb.egressEntries.denyOut = body.denyOut;
        return send(res, 200, sb);
      }
      case "DELETE /sandboxes/:":
        sb.status = "terminated";
        sb.terminationReason = "requested";
        return send(res, 200, sb);
      case "POST /sandboxes/:/exec": {
        const proc = this.startProc(sb.id, json() as { command: string });
        res.writeHead(200, { "content-type": "application/x-ndjson" });
        if (proc.record.command === "split") return splitWrite(res);
        res.write(`${JSON.stringify({ type: "started", process: proc.record })}\n`);
        return stream(res, proc, true);
      }
      case "POST /sandboxes/:/processes":
        return send(res, 201, this.startProc(sb.id, json() as { command: string }).record);
      case "GET /sandboxes/:/processes":
        return send(res, 200, { processes: [...this.procs.values()].map((x) => x.record) });
    }
    if (p[3] === "processes" && !proc)
      return send(res, 404, { error: { code: "process_not_found", message: `no process ${p[4]}` } });
    switch (m) {
      case "GET /sandboxes/:/processes/:":
        return send(res, 200, proc!.record);
      case "GET /sandboxes/:/processes/:/output":
        res.writeHead(200, { "content-type": "application/x-ndjson" });
        return stream(res, proc!, url.searchParams.get("follow") === "1");
      case "POST /sandboxes/:/processes/:/signal":
        proc!.onSignal?.(String(json().signal));
        return send(res, 200, proc!.record);
      case "POST /sandboxes/:/processes/:/stdin":
      case "DELETE /sandboxes/:/processes/:/stdin":
        if (!proc!.record.stdin || proc!.record.status === "exited")
          return send(res, 409, { error: { code: "failed_precondition", message: "stdin is closed" } });
        proc!.onStdin?.(req.method === "POST" ? raw : null);
        res.writeHead(204).end();
        return;
      case "GET /sandboxes/:/files": {
        let data: Buffer;
        try {
          data = readFileSync(join(root, path));
        } catch {
          return send(res, 404, { error: { code: "file_not_found", message: `${path}: no such file` } });
        }
        return void res.writeHead(200).end(data);
      }
      case "PUT /sandboxes/:/files":
        mkdirSync(dirname(join(root, path)), { recursive: true });
        writeFileSync(join(root, path), raw);
        return void res.writeHead(204).end();
      case "DELETE /sandboxes/:/files":
        rmSync(join(root, path), { recursive: url.searchParams.get("recursive") === "1" });
        return void res.writeHead(204).end();
      case "GET /sandboxes/:/files/list": {
        let names: string[];
        try {
          names = readdirSync(join(root, path));
        } catch {
          return send(res, 404, { error: { code: "file_not_found", message: `${path}: no such directory` } });
        }
        const entries = names.map((name) => {
          const st = statSync(join(root, path, name));
          return {
            name,
            type: st.isDirectory() ? "directory" : "file",
            size: st.size,
            mode: st.mode & 0o7777,
            modifiedAt: st.mtime.toISOString(),
          };
        });
        return send(res, 200, { path, entries });
      }
      case "PUT /sandboxes/:/archive": {
        mkdirSync(join(root, path), { recursive: true });
        await new Promise<void>((resolve, reject) => {
          const x = tar.x({ cwd: join(root, path) });
          x.on("finish", resolve).on("error", reject);
          x.end(raw);
        });
        return void res.writeHead(204).end();
      }
      case "GET /sandboxes/:/archive": {
        if (this.archiveOverride) return void res.writeHead(200).end(this.archiveOverride);
        try {
          statSync(join(root, path));
        } catch {
          return send(res, 404, { error: { code: "file_not_found", message: `${path}: no such file or directory` } });
        }
        res.writeHead(200, { "content-type": "application/x-tar" });
        Readable.from(
          tar.c({ cwd: dirname(join(root, path)) }, [basename(path)]) as unknown as AsyncIterable<Buffer>,
        ).pipe(res);
        return;
      }
    }
    send(res, 404, { error: { code: "not_found", message: `no route ${m}` } });
  }

  private createSandbox(body: Record<string, unknown>, project: string): SandboxInfo {
    const id = `sb${++this.seq}${"x".repeat(10)}`;
    const now = new Date().toISOString();
    const sb: SandboxInfo = {
      id,
      name: (body.name as string) ?? null,
      project,
      image: (body.image as string) ?? "debian-minimal",
      imageId: "img1",
      status: "running",
      cpus: (body.cpus as number) ?? 1,
      memoryMb: (body.memoryMb as number) ?? 1024,
      pidsLimit: 1024,
      diskMb: 4096,
      timeoutSecs: (body.timeoutSecs as number) ?? 600,
      allowInternetAccess: (body.allowInternetAccess as boolean) ?? true,
      allowOut: (body.allowOut as string[]) ?? [],
      denyOut: (body.denyOut as string[]) ?? [],
      egressEntries: { allowOut: (body.allowOut as string[]) ?? [], denyOut: (body.denyOut as string[]) ?? [] },
      egressHosts: {},
      env: (body.env as Record<string, string>) ?? {},
      ipAddress: "10.0.0.2",
      snapshotId: null,
      createdAt: now,
      startedAt: now,
      terminatedAt: null,
      terminationReason: null,
    };
    this.sandboxes.set(id, sb);
    mkdirSync(this.rootOf(id), { recursive: true });
    return sb;
  }

  /** Scripted commands: echo, fail N, cat (stdin), yes (until signalled), sleep (until signalled or timeout), readlink, show-request, split. */
  private startProc(
    sandboxId: string,
    body: { command: string; args?: string[]; stdin?: boolean; timeoutSecs?: number },
  ): FakeProc {
    const proc = new FakeProc(sandboxId, `p${++this.seq}`, body);
    this.procs.set(proc.record.id, proc);
    const args = body.args ?? [];
    setImmediate(() => {
      switch (body.command) {
        case "echo":
          proc.out("stdout", `${args.join(" ")}\n`);
          return proc.exit(0);
        case "fail":
          proc.out("stderr", "oops\n");
          return proc.exit(Number(args[0] ?? 1));
        case "readlink":
          // Only what `sbx cp -L` asks: `readlink -f -- PATH`, with one known link.
          proc.out("stdout", `${args[2] === "/etc/os-release" ? "/usr/lib/os-release" : args[2]}\n`);
          return proc.exit(0);
        case "show-request":
          proc.out("stdout", JSON.stringify(body));
          return proc.exit(0);
        case "cat":
          proc.onStdin = (data) => (data ? proc.out("stdout", data) : proc.exit(0));
          return;
        case "yes": {
          const timer = setInterval(() => proc.out("stdout", "y\n".repeat(4096)), 2);
          proc.onSignal = (sig) => {
            clearInterval(timer);
            proc.exit(null, sig);
          };
          return;
        }
        case "sleep": {
          const timer = body.timeoutSecs ? setTimeout(() => proc.exit(null, "SIGKILL", true), 50) : undefined;
          proc.onSignal = (sig) => {
            clearTimeout(timer);
            proc.out("stderr", `got ${sig}\n`);
            proc.exit(null, sig);
          };
          return;
        }
        default:
          proc.out("stderr", `${body.command}: not found\n`);
          return proc.exit(127);
      }
    });
    return proc;
  }
}

function send(res: Res, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
}

async function readBody(req: Req): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function stream(res: Res, proc: FakeProc, follow: boolean): void {
  for (const ev of proc.events) res.write(`${JSON.stringify(ev)}\n`);
  if (!follow || proc.record.status === "exited") return void res.end();
  const l = (ev: OutputEvent) => {
    res.write(`${JSON.stringify(ev)}\n`);
    if (ev.type === "exit") {
      proc.listeners.delete(l);
      res.end();
    }
  };
  proc.listeners.add(l);
  res.on("close", () => proc.listeners.delete(l));
}

/** Writes an exec stream in 3-byte slices so lines and UTF-8 characters arrive split. */
async function splitWrite(res: Res): Promise<void> {
  const lines = [
    { type: "stdout", data: Buffer.from("héllo wörld ").toString("base64") },
    { type: "stderr", data: Buffer.from("warn ✓\n").toString("base64") },
    { type: "stdout", data: Buffer.from("€ end\n").toString("base64") },
    { type: "exit", exitCode: 3, signal: null, timedOut: false },
  ];
  const bytes = Buffer.from(lines.map((l) => JSON.stringify(l)).join("\n") + "\n");
  for (let i = 0; i < bytes.length; i += 3) {
    res.write(bytes.subarray(i, i + 3));
    await new Promise((r) => setTimeout(r, 1));
  }
  res.end();
}
