// The event log of one build: kept in memory while the build runs (followers read it as it grows)
// and appended, in order, to `<logDir>/<id>.ndjson`, which is what a finished build (also one from
// before a daemon restart) replays.
import { EventEmitter } from "node:events";
import { createReadStream } from "node:fs";
import { appendFile } from "node:fs/promises";
import { createInterface } from "node:readline";
import type { BuildEvent } from "../domain/build-events.js";

export class BuildLog {
  readonly events: BuildEvent[] = [];
  /** Appends to the file, one at a time, in order. */
  private written: Promise<void> = Promise.resolve();
  private readonly grew = new EventEmitter();

  constructor(private readonly path: string) {
    this.grew.setMaxListeners(0);
  }

  append(ev: BuildEvent): void {
    this.events.push(ev);
    const line = JSON.stringify(ev) + "\n";
    this.written = this.written.then(() => appendFile(this.path, line, { mode: 0o640 })).catch(() => undefined);
    this.grew.emit("event");
  }

  /** Settles once every event appended so far is in the file. */
  flushed(): Promise<void> {
    return this.written;
  }

  /** The events from the start; with follow, new ones as they come, until the done event. */
  async *read(follow: boolean, signal?: AbortSignal): AsyncGenerator<BuildEvent> {
    let i = 0;
    for (;;) {
      while (i < this.events.length) {
        const ev = this.events[i++]!;
        yield ev;
        if (ev.type === "done") return;
      }
      if (!follow || signal?.aborted) return;
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, 1000);
        const grew = this.grew;
        function done(): void {
          clearTimeout(t);
          grew.off("event", done);
          resolve();
        }
        grew.once("event", done);
      });
    }
  }
}

/**
 * The events of a finished build, from its log file. Logs written before the domain events hold
 * the wire's description of the image under `done.image`: it has every field api/ reads from an
 * image record, and maps to the same answer.
 */
export async function* replayBuildLog(path: string): AsyncGenerator<BuildEvent> {
  // Streamed line by line, never read whole; a build whose log is gone (or never written) simply
  // has no events to replay.
  const file = createReadStream(path, { encoding: "utf8" });
  const opened = await new Promise<boolean>((resolve) => {
    file.once("open", () => resolve(true));
    file.once("error", () => resolve(false));
  });
  if (!opened) return;
  const lines = createInterface({ input: file, crlfDelay: Infinity });
  try {
    for await (const line of lines) if (line.trim()) yield JSON.parse(line) as BuildEvent;
  } finally {
    lines.close();
    file.destroy();
  }
}
