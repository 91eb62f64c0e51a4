// A Node Readable as a Response body without copying it. Readable.toWeb copies every chunk into a
// new Uint8Array: for an image export that is the whole archive (~44 MB for debian-minimal) copied
// and allocated once more on the daemon's main thread. Here the Buffers go on as they are, with
// backpressure: the Readable is paused while the body's queue holds a MiB, and resumed when the
// reader asks for more. Cancelling the body (the client went away) destroys the Readable, which
// stops its source (a sandbox's tar, a file read).
import type { ServerResponse } from "node:http";
import { finished, type Readable } from "node:stream";

/** Bytes queued in the web stream before the Readable is paused. */
const QUEUE_BYTES = 1 << 20;

/**
 * `stream`'s chunks as a web ReadableStream; cancelling the body destroys the stream. `caller`, the
 * server's response for the call (outgoingOf), also destroys it when the caller left before the
 * answer ended: @hono/node-server cancels a body only once it has begun writing it, so a caller
 * gone while the route was still preparing (a sandbox's tar starting) would leave the stream paused
 * for good, and its source blocked.
 */
export function webBody(stream: Readable, caller?: ServerResponse): ReadableStream<Uint8Array> {
  if (caller?.destroyed) stream.destroy();
  else caller?.once("close", () => caller.writableFinished || stream.destroy());
  let done = false;
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        const finish = (err?: unknown): void => {
          if (done) return;
          done = true;
          if (err === undefined) controller.close();
          else controller.error(err);
        };
        stream.on("data", (chunk: Buffer) => {
          if (done) return;
          controller.enqueue(chunk);
          if ((controller.desiredSize ?? 1) <= 0) stream.pause();
        });
        // finished() also answers for a stream that ended, failed or was destroyed before this
        // (events that already fired): the agent's archive can fail with its first bytes.
        finished(stream, { writable: false }, (err) => {
          // Destroyed without an error before its end: the body must not look complete.
          const premature = (err as NodeJS.ErrnoException | undefined)?.code === "ERR_STREAM_PREMATURE_CLOSE";
          finish(premature ? new Error("the stream was closed before its end") : (err ?? undefined));
        });
      },
      pull() {
        if (!done) stream.resume();
      },
      cancel() {
        done = true;
        stream.destroy();
      },
    },
    { highWaterMark: QUEUE_BYTES, size: (chunk) => chunk.byteLength },
  );
}
