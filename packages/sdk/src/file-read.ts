// Reading one file of a sandbox. The daemon streams it as the sandbox gives it (it never holds the
// file whole), with Content-Length when the size is known up front. `readFileStream` hands that
// stream on; `readFile` gathers it into one Buffer here, on the client, so it is capped: a file
// bigger than MAX_READ_FILE_BYTES is refused (before any byte is read when its size is announced).
// A read that breaks off (the file shrank while read, a /proc file gave more than the daemon reads of
// a file of unknown size, the read idled) is an SbxError, never a short Buffer.
import type { Readable } from "node:stream";
import { apiPath, SbxError } from "@sbx-sh/protocol";
import type { Transport } from "./transport.js";
import { pathQuery, pathText, type SandboxPath } from "./file-path.js";

/** Most bytes `readFile` gathers in memory; bigger files: readFileStream() or downloadArchive(). */
export const MAX_READ_FILE_BYTES = 256 * 1024 * 1024;

/** The file's bytes as the daemon streams them (`size` when it announced it). */
export async function readFileStream(
  transport: Transport,
  id: string,
  path: SandboxPath,
  signal?: AbortSignal,
): Promise<Readable & { size?: number }> {
  const res = await transport.send("GET", apiPath("files", { id }), { query: pathQuery(path), signal, stream: true });
  const length = res.headers["content-length"];
  return Object.assign(res.body, length === undefined ? {} : { size: Number(length) });
}

/** The whole file, at most `max` bytes. */
export async function readFileWhole(transport: Transport, id: string, path: SandboxPath, max = MAX_READ_FILE_BYTES) {
  const stream = await readFileStream(transport, id, path);
  const tooLarge = () =>
    new SbxError(
      "payload_too_large",
      `${pathText(path)} is larger than ${max} bytes, more than readFile holds in memory: use readFileStream() or downloadArchive()`,
    );
  if (stream.size !== undefined && stream.size > max) {
    stream.destroy();
    throw tooLarge();
  }
  const parts: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > max) throw tooLarge();
      parts.push(chunk);
    }
  } catch (err) {
    stream.destroy();
    if (err instanceof SbxError) throw err;
    throw new SbxError(
      "runtime_error",
      `the read of ${path} broke off after ${size} bytes: it changed while read, gave more than the daemon reads of a file whose size it does not know (256 MiB: /proc, /sys), or stalled; the daemon's log says which`,
      undefined,
      { cause: err },
    );
  }
  return Buffer.concat(parts, size);
}
