// Feeding a tar child its archive on stdin, the one way every unpack does it. GNU tar (1.34) exits as
// soon as it has read the archive's end marker, without reading the rest of its input (the zero
// padding of its record, which `tar -b` makes as large as it likes), and Node destroys the child's
// stdin when it exits: a write still under way then fails with EPIPE or "Premature close". That is no
// failure of the feed. tar's exit status says whether it extracted everything, and callers check it.
import type { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";

/**
 * Writes `source` into a tar child's stdin. Resolves true when tar took all of it, false when tar
 * closed its stdin first (the rest of `source` is left unread; tar's exit decides). An error of the
 * source itself is always thrown, whatever its code.
 */
export async function feedTar(
  source: AsyncIterable<Buffer | Uint8Array> | Iterable<Buffer | Uint8Array>,
  stdin: Writable,
): Promise<boolean> {
  // The closed pipe may also report later, on the stream itself: that must not go unhandled.
  stdin.on("error", () => undefined);
  let sourceFailed = false;
  async function* read(): AsyncGenerator<Buffer | Uint8Array> {
    try {
      for await (const c of source) yield c;
    } catch (err) {
      sourceFailed = true;
      throw err;
    }
  }
  return pipeline(read(), stdin).then(
    () => true,
    (err: unknown) => {
      if (!sourceFailed && closedUnder(err)) return false;
      throw err;
    },
  );
}

/** Whether a write failed because the reading end went away (tar exited), not because of the data. */
function closedUnder(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === "ERR_STREAM_PREMATURE_CLOSE" || code === "EPIPE" || code === "ERR_STREAM_DESTROYED";
}
