// Server-sent events for the Tensorlake SDK: `data: <json>` blocks, one per event, and the split
// of sbx's base64 output chunks into the lines the SDK expects (`{line, timestamp, stream}`).
// A partial line waits for its newline, or for the end of the output, before it is sent.
import { StringDecoder } from "node:string_decoder";
import type { ProcessOutputEvent } from "../../domain/records.js";

type Stream = "stdout" | "stderr";
export interface LineEvent {
  line: string;
  timestamp: number;
  stream: Stream;
}

/** Turns output events into line events; `flush` returns what is left once the output ended. */
export class LineSplitter {
  private readonly partial: Record<Stream, string> = { stdout: "", stderr: "" };
  // A character split between two chunks is decoded once both halves are in.
  private readonly decoders = { stdout: new StringDecoder("utf8"), stderr: new StringDecoder("utf8") };

  constructor(private readonly only?: Stream) {}

  push(event: ProcessOutputEvent): LineEvent[] {
    if (event.type === "exit") return this.flush();
    if (this.only && event.type !== this.only) return [];
    const text = this.partial[event.type] + this.decoders[event.type].write(Buffer.from(event.data, "base64"));
    const parts = text.split("\n");
    this.partial[event.type] = parts.pop()!;
    const now = Date.now() / 1000;
    return parts.map((line) => ({ line, timestamp: now, stream: event.type as Stream }));
  }

  flush(): LineEvent[] {
    const now = Date.now() / 1000;
    const out: LineEvent[] = [];
    for (const stream of ["stdout", "stderr"] as const) {
      if (this.partial[stream]) out.push({ line: this.partial[stream], timestamp: now, stream });
      this.partial[stream] = "";
    }
    return out;
  }
}

/** An SSE response from an async sequence of objects; stops producing when the client goes away. */
export function sse(events: AsyncIterable<unknown>, abort: AbortController): Response {
  const encoder = new TextEncoder();
  const iterator = events[Symbol.asyncIterator]();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const next = await iterator.next();
        if (next.done) controller.close();
        else controller.enqueue(encoder.encode(`data: ${JSON.stringify(next.value)}\n\n`));
      } catch (err) {
        // Headers are gone already: the error is the stream's last event.
        controller.enqueue(encoder.encode(`event: error\ndata: ${JSON.stringify({ error: String(err) })}\n\n`));
        controller.close();
      }
    },
    async cancel() {
      abort.abort();
      await iterator.return?.(undefined);
    },
  });
  return new Response(body, {
    status: 200,
    headers: { "content-type": "text/event-stream", "cache-control": "no-store", "x-accel-buffering": "no" },
  });
}
