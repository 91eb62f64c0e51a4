// NDJSON decoding of sbxd's streams (exec, process output): lines may arrive split across any
// number of chunks, even mid UTF-8 character, and an `{error:{...}}` line ends the stream.
import { SbxError } from "@sbx-sh/protocol";
import { parseErrorBody } from "./transport.js";

/** Yields one parsed JSON value per line; blank lines are skipped, a last line without `\n` counts. */
export async function* ndjson(chunks: AsyncIterable<Uint8Array | string>): AsyncGenerator<unknown> {
  // Splitting on the byte 0x0a is safe in UTF-8 (it never occurs inside a multi-byte character),
  // so bytes are only decoded once a whole line is there.
  let pending: Buffer[] = [];
  for await (const raw of brokenOffAsSbxError(chunks)) {
    let chunk = typeof raw === "string" ? Buffer.from(raw) : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    let nl = chunk.indexOf(0x0a);
    while (nl !== -1) {
      pending.push(chunk.subarray(0, nl));
      const line = Buffer.concat(pending);
      pending = [];
      const value = parseLine(line);
      if (value !== undefined) yield value;
      chunk = chunk.subarray(nl + 1);
      nl = chunk.indexOf(0x0a);
    }
    // Copy: undici may reuse the memory behind a chunk once we hand control back.
    if (chunk.length) pending.push(Buffer.from(chunk));
  }
  const value = parseLine(Buffer.concat(pending));
  if (value !== undefined) yield value;
}

function parseLine(line: Buffer): unknown {
  const text = line.toString("utf8").trim();
  if (!text) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new SbxError("internal", `sbxd sent a broken stream line: ${text.slice(0, 200)}`);
  }
  const err = value && typeof value === "object" && "error" in value ? parseErrorBody(value) : null;
  if (err) throw err;
  return value;
}

/** sbxd ends a failing stream by cutting it; say so as an SbxError rather than an undici internal. */
export async function* brokenOffAsSbxError<T>(source: AsyncIterable<T>): AsyncGenerator<T> {
  try {
    yield* source;
  } catch (err) {
    if (err instanceof SbxError || (err instanceof Error && err.name === "AbortError")) throw err;
    const message = err instanceof Error ? err.message : String(err);
    throw new SbxError("internal", `the stream from sbxd broke off (${message}); see the sbxd log`, undefined, {
      cause: err,
    });
  }
}
