// Cuts a byte stream into the pieces sent as STDIN frames to the agent. The agent takes one
// acknowledged STDIN frame at a time per process (its backpressure), so each piece costs a round
// trip: pieces as big as a frame allows, not as big as the stream's own chunks. An upload spilled
// to a file is read back in 64 KiB chunks; sent as they came, a 10 MiB file write took 160 round
// trips instead of 11.
import { MAX_FRAME } from "./agent-protocol.js";

/** The most stdin bytes per frame: a frame's header, request id and process id fit in the rest. */
export const STDIN_FRAME_BYTES = MAX_FRAME - 4096;

/** `input` again, in pieces of exactly `size` bytes (the last one shorter), bytes unchanged. */
export async function* stdinFrames(input: AsyncIterable<Buffer>, size = STDIN_FRAME_BYTES): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let held = 0;
  for await (const chunk of input) {
    let off = 0;
    while (off < chunk.length) {
      // A whole chunk that fills a frame on its own goes as it is (no copy).
      if (held === 0 && chunk.length - off >= size) {
        yield chunk.subarray(off, off + size);
        off += size;
        continue;
      }
      const take = Math.min(size - held, chunk.length - off);
      parts.push(chunk.subarray(off, off + take));
      held += take;
      off += take;
      if (held === size) {
        yield Buffer.concat(parts, held);
        parts = [];
        held = 0;
      }
    }
  }
  if (held > 0) yield Buffer.concat(parts, held);
}
