// A file's bytes as a runtime answers a read: a stream, never the whole file in the daemon's memory,
// with its length when the runtime knows it before reading (an HTTP answer's Content-Length). The
// stream is the sandbox's output: the runtime has already bounded it (a known size is exactly what
// comes, or the stream fails; an unknown one stops at MAX_UNSIZED_READ_BYTES).
import { Readable } from "node:stream";
import { SbxError } from "@sbx-sh/protocol";

export interface FileContent {
  /** The bytes as they are read; destroying it stops the read in the sandbox. */
  stream: Readable;
  /** The length, when known before reading: the stream then carries exactly this many bytes, or fails. */
  size?: number;
}

/** Bytes already in memory as a FileContent (runtimes that read whole, and fakes). */
export function contentOf(data: Buffer): FileContent {
  return { stream: Readable.from([data], { objectMode: false }), size: data.length };
}

/**
 * The whole content in memory, for the daemon's own small reads (a build spec a sandbox wrote):
 * past `max` bytes the read is stopped and this rejects with payload_too_large naming `path`.
 */
export async function readAll(content: FileContent, max: number, path: string): Promise<Buffer> {
  const tooLarge = () => new SbxError("payload_too_large", `${path} is larger than ${max} bytes`);
  if (content.size !== undefined && content.size > max) {
    content.stream.destroy();
    throw tooLarge();
  }
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of content.stream as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) {
      content.stream.destroy();
      throw tooLarge();
    }
    parts.push(chunk);
  }
  return Buffer.concat(parts, size);
}
