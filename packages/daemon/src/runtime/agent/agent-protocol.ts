// The daemon's half of the sbx-agent protocol (packages/daemon/agent/sbx-agent.c, docs/agent-protocol.md):
// its constants, message types and bounds, and the request encoders. The decoder of what the agent
// sends, which treats it as hostile, is ./agent-decode.ts.

export const PROTOCOL_MIN = 1;
/**
 * 2: the agent binary also serves file operations (`/.sbx/agent file ...`, ./agent-files.ts); no new frames.
 * 3: `file stream`, a file's size then its bytes (./agent-read.ts); no new frames.
 */
export const PROTOCOL_MAX = 3;
/** Largest frame either side sends (after the length field); the agent's output chunks are 64 KiB. */
export const MAX_FRAME = 1 << 20;
/** Longest text the agent may send (error messages, its version string). */
export const MAX_TEXT = 4096;
/** Most bytes of an output event: the agent reads 64 KiB at a time. */
export const MAX_OUTPUT = 64 * 1024;
export const ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

export const T = { hello: 1, start: 2, stdin: 3, eof: 4, signal: 5, status: 6, resize: 7, attach: 8 } as const;
/** The agent's message types (its side of the frames, decoded in ./agent-decode.ts). */
export const M = { ok: 0x80, hello: 0x81, started: 0x82, status: 0x86, error: 0xff, exit: 0xc1, output: 0xc2 } as const;
export const START_FLAGS = { stdin: 1, pty: 2, stream: 4 } as const;

/** The agent's error codes (ERROR frames). */
export const AGENT_ERRORS = {
  1: "bad_request",
  2: "not_found",
  3: "not_running",
  4: "exists",
  5: "cwd",
  6: "user",
  7: "exec",
  8: "busy",
  9: "resource",
  10: "version",
  11: "io",
} as const;
export type AgentErrorKind = (typeof AGENT_ERRORS)[keyof typeof AGENT_ERRORS];

export class AgentProtocolError extends Error {
  override readonly name = "AgentProtocolError";
}

export type AgentMessage =
  | { type: "ok"; req: number }
  | { type: "hello"; req: number; version: number; agent: string }
  | { type: "started"; req: number; pid: number }
  | { type: "status"; req: number; exited: boolean; code: number }
  | { type: "error"; req: number; kind: AgentErrorKind; message: string }
  | { type: "exit"; id: string; code: number }
  | { type: "output"; id: string; stream: "stdout" | "stderr"; data: Buffer };

class Writer {
  private readonly parts: Buffer[] = [];
  u8(v: number): this {
    this.parts.push(Buffer.from([v]));
    return this;
  }
  u16(v: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(v);
    this.parts.push(b);
    return this;
  }
  u32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v >>> 0);
    this.parts.push(b);
    return this;
  }
  bytes(v: Buffer | string): this {
    const b = typeof v === "string" ? Buffer.from(v, "utf8") : v;
    this.u32(b.length);
    this.parts.push(b);
    return this;
  }
  /**
   * The frame as its pieces, header first, none of them copied: a stdin chunk goes to the socket as
   * the buffer it came in (the socket writes the pieces together, agent-client.ts).
   */
  frame(type: number, req: number): Buffer[] {
    let length = 0;
    for (const p of this.parts) length += p.length;
    if (5 + length > MAX_FRAME) throw new AgentProtocolError("request too large for one frame");
    const head = Buffer.alloc(9);
    head.writeUInt32BE(5 + length, 0);
    head.writeUInt8(type, 4);
    head.writeUInt32BE(req >>> 0, 5);
    return [head, ...this.parts];
  }
}

export interface StartRequest {
  id: string;
  uid: number;
  gid: number;
  cwd: string;
  /** Strings go as UTF-8; a Buffer as its bytes (a file name that is not UTF-8). */
  argv: Array<string | Buffer>;
  env: string[];
  flags: number;
  cols?: number;
  rows?: number;
}

export const encode = {
  hello: (req: number) => new Writer().u32(PROTOCOL_MIN).u32(PROTOCOL_MAX).frame(T.hello, req),
  start(req: number, s: StartRequest): Buffer[] {
    const w = new Writer().bytes(s.id).u32(s.uid).u32(s.gid).bytes(s.cwd).u32(s.argv.length);
    for (const a of s.argv) w.bytes(a);
    w.u32(s.env.length);
    for (const e of s.env) w.bytes(e);
    return w
      .u8(s.flags)
      .u16(s.cols ?? 0)
      .u16(s.rows ?? 0)
      .frame(T.start, req);
  },
  stdin: (req: number, id: string, data: Buffer) => new Writer().bytes(id).bytes(data).frame(T.stdin, req),
  eof: (req: number, id: string) => new Writer().bytes(id).frame(T.eof, req),
  signal: (req: number, id: string, signo: number) => new Writer().bytes(id).u32(signo).frame(T.signal, req),
  status: (req: number, id: string) => new Writer().bytes(id).frame(T.status, req),
  resize: (req: number, id: string, cols: number, rows: number) =>
    new Writer().bytes(id).u16(cols).u16(rows).frame(T.resize, req),
  attach: (req: number, id: string) => new Writer().bytes(id).frame(T.attach, req),
};
