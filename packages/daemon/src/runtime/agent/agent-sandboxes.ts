// The crun runtime's side of sbx-agent: prepares a sandbox's agent dirs before it starts, keeps one
// connection per sandbox (connected as soon as the sandbox runs, so its first command waits on
// nothing; re-made when one fails, e.g. after a daemon restart), and runs processes through it.
// A failing agent fails its own sandbox's calls (agent_unreachable), never anything else.
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chown, lstat, mkdir, symlink } from "node:fs/promises";
import { join, relative } from "node:path";
import { SbxError } from "@sbx-sh/protocol";
import type { ProcessFiles } from "../process-supervisor.js";
import type { ProcessHandle, ProcessSpec, TerminalHandle, TerminalSpec } from "../types.js";
import { AgentClient, AgentRequestError } from "./agent-client.js";
import { AGENT_SOCKET, type AgentMounts } from "./agent-mounts.js";
import { AgentProcess, exitOf } from "./agent-process.js";
import { attachAgentTerminal, openAgentTerminal } from "./agent-terminal.js";
import { START_FLAGS, encode, type StartRequest } from "./agent-protocol.js";

export interface AgentSandboxesOptions {
  /** The sbx-agent binary on the host. */
  binary: string;
  /** Per-request timeout (default 10 s). */
  timeoutMs?: number;
}

export class AgentSandboxes {
  private readonly clients = new Map<string, Promise<AgentClient>>();

  constructor(
    private readonly dirOf: (id: string) => string,
    private readonly o: AgentSandboxesOptions,
  ) {}

  /** Whether the sandbox was created with the agent (its agent dir exists). */
  has(id: string): boolean {
    return existsSync(join(this.dirOf(id), "agent"));
  }

  /**
   * Makes the agent's socket dir and hands it and the log tmpfs (`logDir`) to the sandbox's root
   * (`owner`). With `stageIn` (a dir on one of the sandbox's own tmpfs), the socket dir is made there
   * and `<sandbox dir>/agent` links to it, so the sandbox's mount table shows no host path for it.
   */
  async prepare(id: string, logDir: string, owner: number, stageIn?: string): Promise<AgentMounts> {
    const link = join(this.dirOf(id), "agent");
    const runDir = stageIn ? join(stageIn, "agent") : link;
    await mkdir(runDir, { mode: 0o700 });
    await chown(runDir, owner, owner);
    if (stageIn) await symlink(relative(this.dirOf(id), runDir), link);
    await chown(logDir, owner, owner);
    return { binary: this.o.binary, runDir, logDir };
  }

  /**
   * Once the sandbox runs: waits for the agent's socket (made first thing; it appears only once it
   * listens) and connects, retrying until `timeoutMs` (nothing in the sandbox runs yet but the agent).
   */
  async ready(id: string, timeoutMs = 10_000): Promise<void> {
    const sock = join(this.dirOf(id), "agent", AGENT_SOCKET);
    const until = Date.now() + timeoutMs;
    for (;;) {
      if (await lstat(sock).catch(() => undefined)) {
        try {
          await this.client(id);
          return;
        } catch (err) {
          if (Date.now() > until) throw err;
        }
      } else if (Date.now() > until)
        throw new SbxError("agent_unreachable", `the agent of sandbox ${id} did not start within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  /** The sandbox's connection, made (again) when there is none or the last one failed. */
  async client(id: string): Promise<AgentClient> {
    const current = this.clients.get(id);
    if (current) {
      const c = await current.catch(() => undefined);
      if (c && !c.failed) return c;
      if (this.clients.get(id) === current) this.clients.delete(id);
      else return this.client(id);
    }
    const made = AgentClient.connect(id, join(this.dirOf(id), "agent", AGENT_SOCKET), { timeoutMs: this.o.timeoutMs });
    this.clients.set(id, made);
    made.catch(() => {
      if (this.clients.get(id) === made) this.clients.delete(id);
    });
    return made;
  }

  /** A connection of the caller's own (closed by the caller), e.g. for a download it may pause. */
  connect(id: string): Promise<AgentClient> {
    return AgentClient.connect(id, join(this.dirOf(id), "agent", AGENT_SOCKET), { timeoutMs: this.o.timeoutMs });
  }

  /** Whether the sandbox's agent speaks `version` (one started before an upgrade may not). */
  async speaks(id: string, version: number): Promise<boolean> {
    return (await this.client(id)).version >= version;
  }

  /** Drops the sandbox's connection (it is being destroyed). */
  forget(id: string): void {
    const c = this.clients.get(id);
    this.clients.delete(id);
    void c?.then((cl) => cl.close()).catch(() => undefined);
  }

  async startProcess(id: string, procId: string, spec: ProcessSpec, files: ProcessFiles): Promise<ProcessHandle> {
    const c = await this.client(id);
    const exit = exitOf(c, procId);
    try {
      await c.request((q) => encode.start(q, startRequest(procId, spec, spec.stdin ? START_FLAGS.stdin : 0)));
    } catch (err) {
      exit.cancel();
      throw startError(err, spec);
    }
    return new AgentProcess(id, procId, files, () => this.client(id), exit.outcome, spec.stdin);
  }

  async attachProcess(id: string, procId: string, files: ProcessFiles): Promise<ProcessHandle> {
    const c = await this.client(id);
    // Known to the agent, running or ended: asked before the handle is given out.
    const sub = exitOf(c, procId);
    let s;
    try {
      s = await c.request((q) => encode.status(q, procId));
    } catch (err) {
      sub.cancel();
      if (err instanceof AgentRequestError && err.kind === "not_found")
        throw new SbxError("process_not_found", `process ${procId} does not exist in sandbox ${id}`);
      throw err;
    }
    if (s.type === "status" && s.exited) sub.cancel();
    const outcome = s.type === "status" && s.exited ? Promise.resolve(s.code) : sub.outcome;
    return new AgentProcess(id, procId, files, () => this.client(id), outcome, false);
  }

  /** Runs a short helper as the sandbox's root; its stdout is kept up to 64 KiB. */
  async capture(id: string, argv: string[]): Promise<{ code: number; stdout: Buffer }> {
    const out: Buffer[] = [];
    let size = 0;
    const code = await this.run(
      id,
      { argv, env: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], cwd: "/", user: "0:0" },
      (stream, data) => {
        if (stream !== "stdout" || size >= 65536) return;
        out.push(data);
        size += data.length;
      },
      () => undefined,
    );
    return { code, stdout: Buffer.concat(out) };
  }

  openTerminal(id: string, termId: string, spec: TerminalSpec): TerminalHandle {
    return openAgentTerminal(() => this.client(id), termId, spec);
  }

  /** Takes over a terminal the agent kept running across a daemon restart. */
  attachTerminal(id: string, termId: string): TerminalHandle {
    return attachAgentTerminal(() => this.client(id), termId);
  }

  /** Runs to completion with output streamed over the connection (build steps); `onAbort` stops it. */
  async run(
    id: string,
    spec: Omit<ProcessSpec, "stdin">,
    onOutput: (stream: "stdout" | "stderr", data: Buffer) => void,
    onAbort: () => void,
    signal?: AbortSignal,
  ): Promise<number> {
    const c = await this.client(id);
    const procId = `run-${randomBytes(8).toString("hex")}`;
    const exit = exitOf(c, procId);
    // Held to the sandbox's step budget: a step printing in a loop waits in its sandbox.
    c.onOutput(procId, onOutput, "step");
    const abort = (): void => onAbort();
    signal?.addEventListener("abort", abort, { once: true });
    try {
      await c.request((q) => encode.start(q, startRequest(procId, { ...spec, stdin: false }, START_FLAGS.stream)));
      const code = await exit.outcome;
      if (code === "lost" || code === null) {
        if (signal?.aborted) return 137;
        throw c.failed ?? new SbxError("agent_unreachable", `the agent of sandbox ${id} lost process ${procId}`);
      }
      return code;
    } catch (err) {
      exit.cancel();
      throw startError(err, spec);
    } finally {
      c.onOutput(procId, undefined);
      signal?.removeEventListener("abort", abort);
    }
  }
}

function startRequest(procId: string, spec: ProcessSpec, flags: number): StartRequest {
  const m = /^(\d+):(\d+)$/.exec(spec.user);
  if (!m) throw new SbxError("invalid_argument", `user ${JSON.stringify(spec.user)} must be a numeric uid:gid`);
  return { id: procId, uid: Number(m[1]), gid: Number(m[2]), cwd: spec.cwd, argv: spec.argv, env: spec.env, flags };
}

/** The agent's refusal to start, as the error the caller gets. */
function startError(err: unknown, spec: Omit<ProcessSpec, "stdin">): unknown {
  if (!(err instanceof AgentRequestError)) return err;
  switch (err.kind) {
    case "cwd":
      return new SbxError(
        "invalid_path",
        `working directory ${spec.cwd} cannot be used (${err.message}): give an existing directory`,
      );
    case "user":
      return new SbxError(
        "invalid_argument",
        `cannot run as user ${spec.user} (${err.message}): give a user of the sandbox's /etc/passwd`,
      );
    case "exists":
      return new SbxError("already_exists", err.message);
    case "resource":
      return new SbxError("failed_precondition", `${err.message}: wait for some processes to end`);
    default:
      return new SbxError("runtime_error", `the sandbox's agent could not start the process: ${err.message}`);
  }
}
