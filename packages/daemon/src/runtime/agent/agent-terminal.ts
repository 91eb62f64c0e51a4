// TerminalHandle on sbx-agent: the agent opens the pty inside the sandbox and relays it as OUTPUT
// events to the connection that started it; keys go back as stdin requests, sizes as RESIZE (the
// kernel then sends SIGWINCH, as a local terminal would). No host process per terminal. When that
// connection goes (a daemon restart) the agent hangs the terminal up (SIGHUP), as a dropped line
// would. A start the agent refuses is told on the terminal and ends it with 126 (137 when the agent is gone).
import type { TerminalHandle, TerminalSpec } from "../types.js";
import { AgentRequestError, type AgentClient } from "./agent-client.js";
import { exitOf } from "./agent-process.js";
import { START_FLAGS, encode } from "./agent-protocol.js";

export function openAgentTerminal(
  client: () => Promise<AgentClient>,
  termId: string,
  spec: TerminalSpec,
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
      const m = /^(\d+):(\d+)$/.exec(spec.user);
      const ended = exitOf(c, termId);
      c.onOutput(termId, (_stream, d) => data(d), true);
      try {
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
      } catch (err) {
        ended.cancel();
        throw err;
      }
      void ended.outcome.then((code) => exit(typeof code === "number" ? code : 137));
      return c;
    } catch (err) {
      data(Buffer.from(`sbx: cannot start ${spec.argv[0] ?? "the program"}: ${(err as Error).message}\r\n`));
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
