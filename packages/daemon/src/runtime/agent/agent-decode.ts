// The decoder of what sbx-agent sends (./agent-protocol.ts has the frames). The agent is untrusted
// (code in the sandbox is root there and can replace it), so the decoder bounds every length and
// count, accepts only the message types and shapes of the agreed version, and throws
// AgentProtocolError on anything else; the caller then drops that sandbox's connection, never the daemon.
import {
  AGENT_ERRORS,
  AgentProtocolError,
  ID_RE,
  M,
  MAX_FRAME,
  MAX_OUTPUT,
  MAX_TEXT,
  type AgentErrorKind,
  type AgentMessage,
} from "./agent-protocol.js";

/** Reads one frame's fields; every read is checked against the frame's end. */
class Reader {
  private off = 0;
  constructor(private readonly b: Buffer) {}
  private need(n: number): void {
    if (this.b.length - this.off < n) throw new AgentProtocolError("truncated frame");
  }
  u8(): number {
    this.need(1);
    return this.b.readUInt8(this.off++);
  }
  u32(): number {
    this.need(4);
    const v = this.b.readUInt32BE(this.off);
    this.off += 4;
    return v;
  }
  bytes(max: number): Buffer {
    const n = this.u32();
    if (n > max) throw new AgentProtocolError(`field of ${n} bytes exceeds ${max}`);
    this.need(n);
    const v = this.b.subarray(this.off, this.off + n);
    this.off += n;
    // A field that is most of the bytes it was read into (an output chunk) is handed on as it is;
    // a small one is copied, so that keeping it does not keep a whole read of the socket alive.
    return v.length * 2 >= v.buffer.byteLength ? v : Buffer.from(v);
  }
  text(max = MAX_TEXT): string {
    return this.bytes(max).toString("utf8");
  }
  id(): string {
    const id = this.text(64);
    if (!ID_RE.test(id)) throw new AgentProtocolError("malformed process id");
    return id;
  }
  end(): void {
    if (this.off !== this.b.length) throw new AgentProtocolError("trailing bytes in frame");
  }
}

function exitCode(n: number): number {
  if (n > 255 + 128) throw new AgentProtocolError(`exit code ${n} out of range`);
  return n;
}

/** Decodes one frame (type, request id, body). Throws AgentProtocolError for anything not in the protocol. */
export function decodeFrame(frame: Buffer): AgentMessage {
  const r = new Reader(frame);
  const type = r.u8();
  const req = r.u32();
  let m: AgentMessage;
  switch (type) {
    case M.ok:
      m = { type: "ok", req };
      break;
    case M.hello:
      m = { type: "hello", req, version: r.u32(), agent: r.text(256) };
      break;
    case M.started:
      m = { type: "started", req, pid: r.u32() };
      break;
    case M.status: {
      const exited = r.u8();
      if (exited > 1) throw new AgentProtocolError("malformed STATUS");
      m = { type: "status", req, exited: exited === 1, code: exitCode(r.u32()) };
      break;
    }
    case M.error: {
      const code = r.u32();
      const kind = (AGENT_ERRORS as Record<number, AgentErrorKind | undefined>)[code];
      if (!kind) throw new AgentProtocolError(`unknown agent error code ${code}`);
      m = { type: "error", req, kind, message: r.text() };
      break;
    }
    case M.exit:
      if (req !== 0) throw new AgentProtocolError("an event carries request id 0");
      m = { type: "exit", id: r.id(), code: exitCode(r.u32()) };
      break;
    case M.output: {
      if (req !== 0) throw new AgentProtocolError("an event carries request id 0");
      const id = r.id();
      const s = r.u8();
      if (s !== 1 && s !== 2) throw new AgentProtocolError("unknown output stream");
      m = { type: "output", id, stream: s === 1 ? "stdout" : "stderr", data: r.bytes(MAX_OUTPUT) };
      break;
    }
    default:
      throw new AgentProtocolError(`unknown message type ${type}`);
  }
  r.end();
  return m;
}

/**
 * Splits a byte stream into frames. Holds at most one frame's worth of bytes (plus the read that
 * completes it): a length over MAX_FRAME (or under the header) is refused before anything is
 * buffered. Linear in the bytes pushed: frames inside one read are decoded where they lie, and the
 * reads of a frame that spans several are joined once, when it is whole. Output frames are not
 * joined at all: once an output frame's header is in, its data is handed on piece by piece as the
 * reads bring it (output is a byte stream; where it is cut does not matter). An output flood
 * arrives as 64 KiB frames in 64 KiB reads, each frame spanning two: joining them cost a copy and
 * an allocation of every byte, and the garbage collections those allocations set off stalled the
 * daemon's API while a build step flooded its output.
 */
export class FrameDecoder {
  private parts: Buffer[] = [];
  private held = 0;
  /** The held frame's length field, once its 4 bytes are in; -1 before. */
  private need = -1;
  /** The output frame whose data is still arriving: whose it is and how many bytes are to come. */
  private streaming: { id: string; stream: "stdout" | "stderr"; left: number } | undefined;

  push(chunk: Buffer): AgentMessage[] {
    const out: AgentMessage[] = [];
    let buf = chunk;
    const s = this.streaming;
    if (s) {
      const n = Math.min(s.left, buf.length);
      if (n > 0) out.push({ type: "output", id: s.id, stream: s.stream, data: owned(buf.subarray(0, n)) });
      s.left -= n;
      if (s.left > 0) return out;
      this.streaming = undefined;
      buf = buf.subarray(n);
    }
    if (this.held) {
      this.parts.push(buf);
      this.held += buf.length;
      if (this.need < 0) {
        if (this.held < 4) return out;
        this.need = frameLength(Buffer.concat(this.parts, 4).readUInt32BE(0));
      }
      // (An output frame whose header came in pieces is joined like any other: rare, and one frame.)
      if (this.held < 4 + this.need) return out;
      buf = Buffer.concat(this.parts, this.held);
      this.parts = [];
      this.held = 0;
      this.need = -1;
    }
    let off = 0;
    while (buf.length - off >= 4) {
      const len = frameLength(buf.readUInt32BE(off));
      if (buf.length - off - 4 < len) break;
      out.push(decodeFrame(buf.subarray(off + 4, off + 4 + len)));
      off += 4 + len;
    }
    if (off < buf.length) {
      const rest = buf.subarray(off);
      if (this.startOutput(rest, out)) return out;
      this.parts = [rest];
      this.held = rest.length;
      if (rest.length >= 4) this.need = frameLength(rest.readUInt32BE(0));
    }
    return out;
  }

  /**
   * `head`: the start of an incomplete frame (its length field first). If it is an output frame
   * whose whole header is in, checks the header as decodeFrame would, hands on the data present and
   * streams the rest. False: not an output frame, or its header is not all in.
   */
  private startOutput(head: Buffer, out: AgentMessage[]): boolean {
    if (head.length < 9 || head[4] !== M.output) return false;
    const len = frameLength(head.readUInt32BE(0));
    if (head.readUInt32BE(5) !== 0) throw new AgentProtocolError("an event carries request id 0");
    if (head.length < 13) return false;
    const idLen = head.readUInt32BE(9);
    if (idLen > 64) throw new AgentProtocolError(`field of ${idLen} bytes exceeds 64`);
    const dataAt = 13 + idLen + 1 + 4;
    if (head.length < dataAt) return false;
    const id = head.toString("utf8", 13, 13 + idLen);
    if (!ID_RE.test(id)) throw new AgentProtocolError("malformed process id");
    const s = head[13 + idLen];
    if (s !== 1 && s !== 2) throw new AgentProtocolError("unknown output stream");
    const size = head.readUInt32BE(13 + idLen + 1);
    if (size > MAX_OUTPUT) throw new AgentProtocolError(`field of ${size} bytes exceeds ${MAX_OUTPUT}`);
    if (dataAt + size !== 4 + len)
      throw new AgentProtocolError(dataAt + size > 4 + len ? "truncated frame" : "trailing bytes in frame");
    const stream = s === 1 ? "stdout" : "stderr";
    const present = head.subarray(dataAt);
    if (present.length) out.push({ type: "output", id, stream, data: owned(present) });
    this.streaming = { id, stream, left: size - present.length };
    return true;
  }
}

/** A piece that is most of the read it lies in is handed on as it is; a small one is copied (see Reader.bytes). */
function owned(v: Buffer): Buffer {
  return v.length * 2 >= v.buffer.byteLength ? v : Buffer.from(v);
}

function frameLength(len: number): number {
  if (len < 5 || len > MAX_FRAME) throw new AgentProtocolError(`frame length ${len} out of bounds`);
  return len;
}
