// The daemon's event stream for SDK users: server-sent events decoded into SbxEvent values, and
// a follower that reconnects where it stopped (the daemon drops a client that reads too slowly, or
// restarts) by sending the last event id back, as a browser's EventSource does.
import { apiPath, type SbxEvent } from "@sbx-sh/protocol";
import type { Transport } from "./transport.js";

export interface EventsOptions {
  /** Event types or prefixes: `["sandbox", "process.exited"]`. */
  types?: string[];
  /** Only events about this sandbox id. */
  sandboxId?: string;
  /** Resume after this event id (events still in the daemon's history are replayed). */
  since?: number;
  signal?: AbortSignal;
  /** Reconnect when the stream ends (default true); false ends the iteration with the stream. */
  reconnect?: boolean;
}

/** Decodes an SSE byte stream: one value per `data:` message; comments and `retry:` are skipped. */
export async function* sseMessages(chunks: AsyncIterable<Uint8Array | string>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffer = "";
  let data: string[] = [];
  for await (const chunk of chunks) {
    buffer += typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true });
    let nl = buffer.indexOf("\n");
    while (nl !== -1) {
      const line = buffer.slice(0, nl).replace(/\r$/, "");
      buffer = buffer.slice(nl + 1);
      if (line === "") {
        if (data.length) yield data.join("\n");
        data = [];
      } else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      nl = buffer.indexOf("\n");
    }
  }
}

export async function* followEvents(transport: Transport, opts: EventsOptions = {}): AsyncGenerator<SbxEvent> {
  let since = opts.since;
  for (;;) {
    const body = await transport.stream("GET", apiPath("events"), {
      query: { type: opts.types?.join(","), sandbox: opts.sandboxId, since },
      signal: opts.signal,
      stream: true,
    });
    try {
      for await (const data of sseMessages(body)) {
        const event = JSON.parse(data) as SbxEvent;
        if (event.type !== "events.lost") since = event.id;
        yield event;
      }
    } catch (err) {
      if (opts.signal?.aborted) return;
      throw err;
    }
    if (opts.reconnect === false || opts.signal?.aborted) return;
  }
}
