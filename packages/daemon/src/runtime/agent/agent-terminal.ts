// TerminalHandle on sbx-agent: the agent opens the pty inside the sandbox and relays it as OUTPUT
// events to the connection that started it; keys go back as stdin requests, sizes as RESIZE (the
// kernel then sends SIGWINCH, as a local terminal would). No host process per terminal. When that
// connection goes (a daemon killed) the terminal keeps running in the agent (version 2), its output
// held in the pty; a restarted daemon re-attaches with attachAgentTerminal (ATTACH, then STATUS).
// A start the agent refuses is told on the terminal and ends it with 126 (137 when the agent is gone).
import type { TerminalHandle, TerminalSpec } from "../types.js";
import { AgentRequestError, type AgentClient } from "./agent-client.js";
import { exitOf } from "./agent-process.js";
import { START_FLAGS, encode } from "./agent-protocol.js";

export function openAgentTerminal(
  client: () => Promise<AgentClient>,
  termId: string,
  spec: TerminalSpec,
): TerminalHandle {
  const m = /^(\d+):(\d+)$/.exec(spec.user);
  return agentTerminal(client, termId, spec.argv[0] ?? "the program", async (c) => {
    await c.request((q) =>
      encode.start(q, {
        id: termId,
        uid: Number(m?.[1] ?? 0),
        gid: Number(m?.[2] ?? 0),
        cwd: spec.cwd,
        argv: spec.argv,
        env: spec.env,
        flags: START_FLAGS.pty | START_FLAGS.stdin,
        cols: spec.cols,
        rows: spec.rows,
      }),
    );
    return undefined;
  });
}

/** Takes over a terminal the agent kept running (a daemon restart); its exit may already have happened. */
export function attachAgentTerminal(client: () => Promise<AgentClient>, termId: string): TerminalHandle {
  return agentTerminal(client, termId, "the terminal", async (c) => {
    await c.request((q) => encode.attach(q, termId));
    const s = await c.request((q) => encode.status(q, termId));
    return s.type === "status" && s.exited ? s.code : undefined;
  });
}

function agentTerminal(
  client: () => Promise<AgentClient>,
  termId: string,
  what: string,
  /** Starts or attaches; answers the exit code when the program has already ended. */
  begin: (c: AgentClient) => Promise<number | undefined>,
): TerminalHandle {
  const dataCbs: Array<(d: Buffer) => void> = [];
  const exitCbs: Array<(code: number) => void> = [];
  const early: Buffer[] = [];
  let exited: number | undefined;
  const data = (d: Buffer): void => {
    if (dataCbs.length === 0) early.push(d);
    for (const cb of dataCbs) cb(d);
  };
  const exit = (code: number): void => {
    if (exited !== undefined) return;
    exited = code;
    for (const cb of exitCbs) cb(code);
  };
  // Keys and resizes in order, after the start.
  let queue: Promise<AgentClient | undefined> = (async () => {
    try {
      const c = await client();
      const ended = exitOf(c, termId);
      c.onOutput(termId, (_stream, d) => data(d), "terminal");
      let already: number | undefined;
      try {
        already = await begin(c);
      } catch (err) {
        ended.cancel();
        throw err;
      }
      if (already !== undefined) {
        ended.cancel();
        exit(already);
        return c;
      }
      void ended.outcome.then((code) => exit(typeof code === "number" ? code : 137));
      return c;
    } catch (err) {
      data(Buffer.from(`sbx: cannot start ${what}: ${(err as Error).message}\r\n`));
      // Refused by the agent: 126, as a shell says for a command it cannot run; the agent gone: killed.
      exit(err instanceof AgentRequestError ? 126 : 137);
      return undefined;
    }
  })();
  const then = (fn: (c: AgentClient) => Promise<unknown>): Promise<void> => {
    const next = queue.then(async (c) => {
      if (c && exited === undefined) await fn(c).catch(() => undefined);
      return c;
    });
    queue = next;
    return next.then(() => undefined);
  };

  return {
    onData(cb) {
      dataCbs.push(cb);
      for (const d of early.splice(0)) cb(d);
    },
    onExit(cb) {
      exitCbs.push(cb);
      if (exited !== undefined) cb(exited);
    },
    write(d) {
      const bytes = typeof d === "string" ? Buffer.from(d, "utf8") : d;
      void then((c) => c.request((q) => encode.stdin(q, termId, bytes)));
    },
    resize: (cols, rows) => then((c) => c.request((q) => encode.resize(q, termId, cols, rows))),
    kill: () => then((c) => c.request((q) => encode.signal(q, termId, 9))),
  };
}
