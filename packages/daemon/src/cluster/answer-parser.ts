// A node's HTTP/1.1 answer read off a raw socket (node-relay.ts), bounded: the control plane's
// exec relay parses the answer itself instead of going through undici, and a node's bytes are
// hostile input like a sandbox's. The head is at most 16 KiB and 100 header lines, each line
// checked against the HTTP grammar (no obs-fold, no control characters); the body is framed by
// exactly one of content-length (at most 15 digits) or chunked (sizes of at most 8 hex digits, each
// chunk followed by CRLF, trailers bounded like the head and dropped); a 1xx, an HTTP/1.0 answer, a
// body with no framing or both, or any byte after the answer's end (the relay never pipelines) is
// refused. A refusal is an AnswerError and the socket is never used again. The body is handed on
// as it comes, so its size costs no memory here: the relay streams it under backpressure.

/** The most a head (status line and headers), or a chunked answer's trailers, may take. */
export const MAX_ANSWER_HEAD_BYTES = 16 * 1024;
const MAX_HEADER_LINES = 100;
/** A chunk-size line: up to 8 hex digits and an extension, within this. */
const MAX_CHUNK_LINE_BYTES = 256;

/** The node's answer broke HTTP/1.1 framing or a bound: the call fails and the socket is dropped. */
export class AnswerError extends Error {}

export interface AnswerHead {
  status: number;
  /** Header names (lowercase) and values, in order. */
  headers: Array<[name: string, value: string]>;
  /** Whether the node lets the connection be used again (no `connection: close`). */
  keepAlive: boolean;
  /** The node's keep-alive timeout hint in seconds (`keep-alive: timeout=N`), if it gave one. */
  idleSeconds?: number;
}

export interface AnswerSink {
  head(head: AnswerHead): void;
  data(chunk: Buffer): void;
  done(): void;
}

const STATUS_LINE = /^HTTP\/1\.1 ([2-5]\d\d)(?: [\t\x20-\x7e\x80-\xff]*)?$/;
const HEADER_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([\t\x20-\x7e\x80-\xff]*?)[ \t]*$/;
const CHUNK_LINE = /^([0-9A-Fa-f]{1,8})(?:[ \t]*;[\t\x20-\x7e]*)?$/;
const CRLF = Buffer.from("\r\n");
const END_OF_HEAD = Buffer.from("\r\n\r\n");

type State = "head" | "length" | "size" | "chunk" | "chunk-end" | "trailers" | "done";

/** Parses one answer pushed to it in pieces, calling `sink` as it goes; `noBody`: a HEAD call's answer. */
export class AnswerParser {
  private state: State = "head";
  private pending: Buffer = Buffer.alloc(0);
  private left = 0;
  private trailerLines = 0;

  constructor(
    private readonly sink: AnswerSink,
    private readonly noBody = false,
  ) {}

  get finished(): boolean {
    return this.state === "done";
  }

  /** Takes the next bytes from the node; throws AnswerError on anything odd (then use it no more). */
  push(buf: Buffer): void {
    let at = 0;
    if (this.pending.length > 0) {
      buf = Buffer.concat([this.pending, buf]);
      this.pending = Buffer.alloc(0);
    }
    while (at < buf.length) {
      switch (this.state) {
        case "done":
          throw new AnswerError("the node sent bytes after its answer ended");
        case "head": {
          const end = buf.indexOf(END_OF_HEAD, at);
          if (end < 0) return this.keep(buf, at, MAX_ANSWER_HEAD_BYTES, "head");
          if (end - at > MAX_ANSWER_HEAD_BYTES) throw new AnswerError("the node's answer head is too large");
          this.onHead(buf.toString("latin1", at, end));
          at = end + 4;
          break;
        }
        case "length":
        case "chunk": {
          const n = Math.min(this.left, buf.length - at);
          this.left -= n;
          const piece = buf.subarray(at, at + n);
          at += n;
          if (this.left === 0) this.state = this.state === "length" ? "done" : "chunk-end";
          this.sink.data(piece);
          if (this.state === "done") this.sink.done();
          break;
        }
        case "chunk-end": {
          if (buf.length - at < 2) return this.keep(buf, at, 2, "chunk end");
          if (buf[at] !== 13 || buf[at + 1] !== 10) throw new AnswerError("the node's chunk does not end with CRLF");
          at += 2;
          this.state = "size";
          break;
        }
        case "size": {
          const end = buf.indexOf(CRLF, at);
          if (end < 0) return this.keep(buf, at, MAX_CHUNK_LINE_BYTES, "chunk size line");
          const m = end - at <= MAX_CHUNK_LINE_BYTES ? CHUNK_LINE.exec(buf.toString("latin1", at, end)) : null;
          if (!m) throw new AnswerError("the node's chunk size line is malformed");
          at = end + 2;
          this.left = parseInt(m[1]!, 16);
          this.state = this.left === 0 ? "trailers" : "chunk";
          break;
        }
        case "trailers": {
          const end = buf.indexOf(CRLF, at);
          if (end < 0) return this.keep(buf, at, MAX_ANSWER_HEAD_BYTES, "trailer");
          const line = buf.toString("latin1", at, end);
          at = end + 2;
          if (line === "") {
            this.state = "done";
            this.sink.done();
          } else if (++this.trailerLines > MAX_HEADER_LINES || !HEADER_LINE.test(line))
            throw new AnswerError("the node's trailers are malformed or too many");
          break;
        }
      }
    }
  }

  /** Keeps an incomplete piece for the next push, as long as it is within `max`. */
  private keep(buf: Buffer, at: number, max: number, what: string): void {
    if (buf.length - at > max) throw new AnswerError(`the node's ${what} is too large`);
    this.pending = Buffer.from(buf.subarray(at));
  }

  private onHead(text: string): void {
    const lines = text.split("\r\n");
    const status = STATUS_LINE.exec(lines[0]!);
    if (!status) throw new AnswerError("the node's status line is not an HTTP/1.1 final answer");
    if (lines.length - 1 > MAX_HEADER_LINES) throw new AnswerError("the node's answer has too many headers");
    const head: AnswerHead = { status: Number(status[1]), headers: [], keepAlive: true };
    let length: string | undefined;
    let chunked = false;
    for (let i = 1; i < lines.length; i++) {
      const m = HEADER_LINE.exec(lines[i]!);
      if (!m) throw new AnswerError("the node's answer has a malformed header line");
      const name = m[1]!.toLowerCase();
      const value = m[2]!;
      if (name === "content-length") {
        if (!/^\d{1,15}$/.test(value) || (length !== undefined && length !== value))
          throw new AnswerError("the node's content-length is malformed");
        length = value;
      } else if (name === "transfer-encoding") {
        if (value.toLowerCase() !== "chunked" || chunked)
          throw new AnswerError("the node's transfer-encoding is not chunked");
        chunked = true;
      } else if (name === "connection") {
        if (/(?:^|,)\s*close\s*(?:,|$)/i.test(value)) head.keepAlive = false;
      } else if (name === "keep-alive") {
        const t = /(?:^|,)\s*timeout=(\d{1,6})\s*(?:,|$)/i.exec(value);
        if (t) head.idleSeconds = Number(t[1]);
      }
      head.headers.push([name, value]);
    }
    const bodiless = this.noBody || head.status === 204 || head.status === 304;
    if (!bodiless && (length === undefined) === !chunked)
      throw new AnswerError("the node's answer has no body framing, or two");
    this.sink.head(head);
    if (bodiless || (length !== undefined && Number(length) === 0)) {
      this.state = "done";
      this.sink.done();
    } else if (chunked) this.state = "size";
    else {
      this.left = Number(length);
      this.state = "length";
    }
  }
}
