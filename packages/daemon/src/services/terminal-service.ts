// Terminals in sandboxes: programs on a pseudo-terminal the daemon holds, with a bounded
// scrollback so a client that went away can attach again and see what it missed. Terminals end
// with their program, with their sandbox, or with a clean daemon stop; after a crash, runtimes that
// keep them (the agent) hand them back and they are adopted on first use of their sandbox.
import { SbxError, mergeEnv, newId } from "@sbx-sh/protocol";
import type { OpenTerminal } from "../domain/commands.js";
import { TERMINAL_SIZE } from "../domain/limits.js";
import type { SandboxRuntime, TerminalHandle } from "../runtime/runtime.js";
import type { SandboxRecord, TerminalRecord } from "../domain/records.js";
import type { Logger } from "../common/log.js";
import type { SandboxEvents } from "./sandbox-events.js";
import type { SandboxService } from "./sandbox-service.js";
import { Scrollback } from "./terminal-scrollback.js";

export const MAX_TERMINALS_PER_SANDBOX = 16;
/** Exited terminals stay this long (exit code, scrollback) for a client that attaches late. */
const EXITED_TTL_MS = 5 * 60_000;
const DEFAULT_SHELL = ["/bin/sh", "-c", "command -v bash >/dev/null 2>&1 && exec bash || exec sh"];

/** Whoever is attached: gets the output as it comes and, once, the exit code. */
export interface TerminalClient {
  data(chunk: Buffer): void;
  exit(exitCode: number): void;
}

interface Entry {
  rec: Omit<TerminalRecord, "attached">;
  host: TerminalHandle;
  scrollback: Scrollback;
  clients: Set<TerminalClient>;
  /** Settles once the terminal is recorded as exited. */
  done: Promise<void>;
}

export class TerminalService {
  private readonly entries = new Map<string, Entry>();
  /** Sandboxes whose surviving terminals were asked for (once per daemon run). */
  private readonly adopted = new Map<string, Promise<void>>();

  constructor(
    private readonly runtime: SandboxRuntime,
    private readonly sandboxes: SandboxService,
    events: SandboxEvents,
    private readonly log: Logger,
  ) {
    events.onGone((s) => this.sandboxEnded(s));
  }

  async create(project: string, sandboxIdOrName: string, req: OpenTerminal): Promise<TerminalRecord> {
    const sb = await this.sandboxes.getRunning(project, sandboxIdOrName);
    if (req.workingDir !== undefined && !req.workingDir.startsWith("/"))
      throw new SbxError("invalid_path", `workingDir ${JSON.stringify(req.workingDir)} must be an absolute path`);
    await this.adopt(sb.id);
    const live = this.ofSandbox(sb.id).filter((e) => e.rec.status === "running").length;
    if (live >= MAX_TERMINALS_PER_SANDBOX) {
      throw new SbxError(
        "failed_precondition",
        `sandbox ${sb.id} already has ${live} open terminals (the limit): end one with DELETE /v1/sandboxes/${sb.id}/terminals/{terminalId}`,
      );
    }
    const user = await this.runtime.resolveUser(sb.id, req.user ?? sb.config.user);
    // TERM is only a default: the image's env, the sandbox's and the request's all win over it.
    const secrets = await this.sandboxes.secretsOf(sb);
    const env = mergeEnv(["TERM=xterm-256color", ...sb.config.env], { ...sb.env, ...secrets, ...(req.env ?? {}) });
    const argv = req.command ? [req.command, ...(req.args ?? [])] : DEFAULT_SHELL;
    const id = newId("tm");
    const createdAt = new Date().toISOString();
    const host = this.runtime.openTerminal(sb.id, id, {
      argv,
      env,
      cwd: req.workingDir ?? sb.config.workingDir,
      user,
      cols: req.cols,
      rows: req.rows,
      record: { command: argv[0]!, args: argv.slice(1), cols: req.cols, rows: req.rows, createdAt },
    });
    const entry: Entry = {
      rec: {
        id,
        sandboxId: sb.id,
        command: argv[0]!,
        args: argv.slice(1),
        cols: req.cols,
        rows: req.rows,
        status: "running",
        exitCode: null,
        createdAt,
        endedAt: null,
      },
      host,
      scrollback: new Scrollback(),
      clients: new Set(),
      done: Promise.resolve(),
    };
    this.track(entry);
    this.log.info({ sandbox: sb.id, terminal: id, command: argv[0] }, "terminal opened");
    return this.view(entry);
  }

  private track(entry: Entry): void {
    const { host } = entry;
    host.onData((chunk) => {
      entry.scrollback.push(chunk);
      for (const c of entry.clients) c.data(chunk);
    });
    entry.done = new Promise<number>((resolve) => host.onExit(resolve)).then(async (code) => {
      // Killed with its sandbox, crun says 1 or so: say 137, as for processes.
      const killed = code !== 0 && !(await this.runtime.isRunning(entry.rec.sandboxId).catch(() => false));
      this.finish(entry, killed ? 137 : code);
    });
    this.entries.set(entry.rec.id, entry);
  }

  /** Takes back the terminals of a sandbox that outlived the previous daemon (once per sandbox). */
  private adopt(sandboxId: string): Promise<void> {
    let p = this.adopted.get(sandboxId);
    if (!p) {
      p = this.adoptNow(sandboxId).catch((err: unknown) => {
        this.adopted.delete(sandboxId);
        this.log.warn({ sandbox: sandboxId, err }, "could not take back the sandbox's terminals");
      });
      this.adopted.set(sandboxId, p);
    }
    return p;
  }

  private async adoptNow(sandboxId: string): Promise<void> {
    if (!this.runtime.adoptTerminals || !(await this.runtime.isRunning(sandboxId).catch(() => false))) return;
    for (const t of await this.runtime.adoptTerminals(sandboxId)) {
      if (this.entries.has(t.termId)) continue;
      const r = (t.record ?? {}) as Partial<Record<"command" | "args" | "cols" | "rows" | "createdAt", unknown>>;
      const entry: Entry = {
        rec: {
          id: t.termId,
          sandboxId,
          command: typeof r.command === "string" ? r.command : "",
          args: Array.isArray(r.args) ? r.args.filter((a): a is string => typeof a === "string") : [],
          cols: typeof r.cols === "number" ? r.cols : 80,
          rows: typeof r.rows === "number" ? r.rows : 24,
          status: "running",
          exitCode: null,
          createdAt: typeof r.createdAt === "string" ? r.createdAt : new Date().toISOString(),
          endedAt: null,
        },
        host: t.handle,
        scrollback: new Scrollback(),
        clients: new Set(),
        done: Promise.resolve(),
      };
      this.track(entry);
      this.log.info({ sandbox: sandboxId, terminal: t.termId }, "terminal taken back after a restart");
    }
  }

  async list(project: string, sandboxIdOrName: string): Promise<TerminalRecord[]> {
    const sb = await this.sandboxes.get(project, sandboxIdOrName);
    await this.adopt(sb.id);
    return this.ofSandbox(sb.id).map((e) => this.view(e));
  }

  async get(project: string, sandboxIdOrName: string, terminalId: string): Promise<TerminalRecord> {
    return this.view(await this.entry(project, sandboxIdOrName, terminalId));
  }

  /**
   * Attaches a client: it gets the scrollback at once, then live output, then the exit code (at
   * once when the program has already exited). Answers the functions it uses to talk back.
   */
  async attach(
    project: string,
    sandboxIdOrName: string,
    terminalId: string,
    client: TerminalClient,
  ): Promise<{ write(data: Buffer): void; resize(cols: number, rows: number): Promise<void>; detach(): void }> {
    const e = await this.entry(project, sandboxIdOrName, terminalId);
    // Replay and registration in one synchronous step: no output is lost or sent twice in between.
    const replay = e.scrollback.contents();
    if (replay.length) client.data(replay);
    if (e.rec.status === "exited") client.exit(e.rec.exitCode ?? 0);
    else e.clients.add(client);
    return {
      write: (data) => {
        if (e.rec.status === "running") e.host.write(data);
      },
      resize: (cols, rows) => this.resizeEntry(e, cols, rows),
      detach: () => void e.clients.delete(client),
    };
  }

  async resize(
    project: string,
    sandboxIdOrName: string,
    terminalId: string,
    cols: number,
    rows: number,
  ): Promise<TerminalRecord> {
    const e = await this.entry(project, sandboxIdOrName, terminalId);
    await this.resizeEntry(e, cols, rows);
    return this.view(e);
  }

  /** Kills the terminal's program and answers once it has ended. */
  async kill(project: string, sandboxIdOrName: string, terminalId: string): Promise<TerminalRecord> {
    const e = await this.entry(project, sandboxIdOrName, terminalId);
    if (e.rec.status === "running") {
      await e.host.kill();
      await e.done;
    }
    return this.view(e);
  }

  private async resizeEntry(e: Entry, cols: number, rows: number): Promise<void> {
    if (
      !Number.isInteger(cols) ||
      !Number.isInteger(rows) ||
      Math.min(cols, rows) < TERMINAL_SIZE.min ||
      Math.max(cols, rows) > TERMINAL_SIZE.max
    ) {
      throw new SbxError(
        "out_of_range",
        `terminal size ${cols}x${rows} is out of range: cols and rows are whole numbers from ${TERMINAL_SIZE.min} to ${TERMINAL_SIZE.max}`,
      );
    }
    if (e.rec.status !== "running") return;
    e.rec.cols = cols;
    e.rec.rows = rows;
    await e.host.resize(cols, rows);
  }

  private async entry(project: string, sandboxIdOrName: string, terminalId: string): Promise<Entry> {
    const sb = await this.sandboxes.get(project, sandboxIdOrName);
    await this.adopt(sb.id);
    const e = this.entries.get(terminalId);
    if (!e || e.rec.sandboxId !== sb.id) {
      throw new SbxError(
        "terminal_not_found",
        `terminal ${terminalId} does not exist in sandbox ${sb.id}: list them with GET /v1/sandboxes/${sb.id}/terminals`,
      );
    }
    return e;
  }

  private ofSandbox(sandboxId: string): Entry[] {
    return [...this.entries.values()].filter((e) => e.rec.sandboxId === sandboxId);
  }

  private view(e: Entry): TerminalRecord {
    return { ...e.rec, attached: e.clients.size };
  }

  private finish(e: Entry, exitCode: number): void {
    if (e.rec.status === "exited") return;
    e.rec.status = "exited";
    e.rec.exitCode = exitCode;
    e.rec.endedAt = new Date().toISOString();
    for (const c of e.clients) c.exit(exitCode);
    e.clients.clear();
    this.log.info({ sandbox: e.rec.sandboxId, terminal: e.rec.id, exitCode }, "terminal ended");
    setTimeout(() => this.entries.delete(e.rec.id), EXITED_TTL_MS).unref();
  }

  /**
   * The sandbox is gone and its programs with it: killed, whatever crun makes of that (137, as for
   * processes). Relays that linger are ended here.
   */
  private sandboxEnded(s: SandboxRecord): void {
    this.adopted.delete(s.id);
    for (const e of this.ofSandbox(s.id)) {
      if (e.rec.status !== "running") continue;
      this.finish(e, 137);
      void e.host
        .kill()
        .catch((err: unknown) => this.log.warn({ terminal: e.rec.id, err }, "could not end a terminal"));
    }
  }

  /** Daemon shutdown: the daemon holds every terminal, so they end now rather than hang up later. */
  async close(): Promise<void> {
    const live = [...this.entries.values()].filter((e) => e.rec.status === "running");
    await Promise.all(
      live.map(async (e) => {
        await e.host.kill().catch(() => undefined);
        await e.done;
      }),
    );
  }
}
