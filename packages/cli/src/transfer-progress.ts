// Byte counters for long transfers through the CLI (`sbx cp`, `sbx image export/import/push/pull`), on stderr
// so stdout stays the command's output: a redrawn line with a bar (when the size is known) on a
// terminal, plain lines for logs and CI (one every few seconds and one at the end), NDJSON events
// with --json, nothing with -q. A meter is a pass-through stream put between source and sink; a
// transfer the daemon runs (push, pull) reports its own counts through update(). What `sbx cp`
// moves is a tar, whose headers and padding dwarf small files (a 6-byte file is 2 KB of tar): it
// counts the files' own bytes too and shows those first, the tar's labelled as such.
import { pipeline, Transform, type Readable } from "node:stream";
import { formatBytes } from "@sbx-sh/sdk/internal";

export type TransferMode = "tty" | "plain" | "json" | "quiet";

export interface TransferOptions {
  mode: TransferMode;
  /** Bytes expected, when known (a file's size). */
  total?: number;
  write?: (text: string) => void;
  now?: () => number;
  /** The bytes are a tar: "stream" labels them so; "files" also shows the files' bytes (file()). */
  tar?: "stream" | "files";
}

/** tty on a terminal, plain otherwise; --json wins, then -q. */
export function transferMode(g: { json?: boolean; quiet?: boolean }, isTTY = !!process.stderr.isTTY): TransferMode {
  if (g.json) return "json";
  if (g.quiet) return "quiet";
  return isTTY ? "tty" : "plain";
}

const TTY_EVERY_MS = 100;
const JSON_EVERY_MS = 500;
const PLAIN_EVERY_MS = 5000;
const BAR = 24;

export class TransferProgress {
  private bytes = 0;
  private total: number | undefined;
  private layers: { done: number; total: number } | undefined;
  private readonly content: { files: number; bytes: number } | undefined;
  private last = 0;
  private readonly started: number;
  private readonly write: (text: string) => void;
  private readonly now: () => number;

  /** `op`: what moves (cp, export, import); `label`: from where to where. */
  constructor(
    private readonly op: string,
    private readonly label: string,
    private readonly o: TransferOptions,
  ) {
    this.write = o.write ?? ((t) => void process.stderr.write(t));
    this.now = o.now ?? Date.now;
    this.started = this.last = this.now();
    this.total = o.total;
    if (o.tar === "files") this.content = { files: 0, bytes: 0 };
  }

  /** One regular file of `bytes` entered or left the tar (with the `tar: "files"` option). */
  file(bytes: number): void {
    if (!this.content) return;
    this.content.files++;
    this.content.bytes += bytes;
  }

  /** What moved, for a person: the tar's bytes labelled, after the files' own when counted; exact when done. */
  private what(done: boolean): string {
    const { content } = this;
    const tar = `${formatBytes(this.bytes)} of tar`;
    if (!content) return done ? `${tar} (${this.bytes} bytes)` : tar;
    const files = `${content.files} file${content.files === 1 ? "" : "s"}, ${formatBytes(content.bytes)}`;
    return `${files} (${done ? `${content.bytes} bytes; ` : ""}${tar})`;
  }

  /** Counts reported by the daemon (cumulative), for transfers it runs itself. */
  update(p: { bytes: number; total: number; layers?: number; layersTotal?: number }): void {
    this.total = p.total;
    if (p.layers !== undefined && p.layersTotal !== undefined) this.layers = { done: p.layers, total: p.layersTotal };
    this.add(p.bytes - this.bytes);
  }

  /** `source` piped through a counter; errors of either end reach the returned stream. */
  meter(source: Readable): Readable {
    const counter = new Transform({
      transform: (chunk: Buffer, _enc, cb) => {
        this.add(chunk.length);
        cb(null, chunk);
      },
    });
    return pipeline(source, counter, (err) => {
      if (err) counter.destroy(err);
    });
  }

  add(n: number): void {
    this.bytes += n;
    const t = this.now();
    const every = { tty: TTY_EVERY_MS, json: JSON_EVERY_MS, plain: PLAIN_EVERY_MS, quiet: Infinity }[this.o.mode];
    if (t - this.last < every) return;
    this.last = t;
    this.show(false);
  }

  /** The final line or event; call once when the transfer succeeded. */
  done(): void {
    this.show(true);
  }

  private show(done: boolean): void {
    const secs = Math.max(this.now() - this.started, 1) / 1000;
    const { total, layers } = this;
    const layerText = layers ? `, ${layers.done}/${layers.total} layers` : "";
    switch (this.o.mode) {
      case "quiet":
        return;
      case "json":
        this.write(
          JSON.stringify({
            event: "progress",
            op: this.op,
            label: this.label,
            bytes: this.bytes,
            total: total ?? null,
            ...(layers ? { layers: layers.done, layersTotal: layers.total } : {}),
            ...(this.content ? { files: this.content.files, fileBytes: this.content.bytes } : {}),
            done,
          }) + "\n",
        );
        return;
      case "plain":
        if (this.o.tar) {
          this.write(`${this.op} ${this.label}: ${this.what(done)}${done ? ` in ${secs.toFixed(1)}s` : ""}\n`);
          return;
        }
        this.write(
          done
            ? `${this.op} ${this.label}: ${formatBytes(this.bytes)} (${this.bytes} bytes${layerText}) in ${secs.toFixed(1)}s\n`
            : `${this.op} ${this.label}: ${formatBytes(this.bytes)}${total ? ` of ${formatBytes(total)}` : ""}${layerText}\n`,
        );
        return;
      case "tty": {
        const rate = `${formatBytes(Math.round(this.bytes / secs))}/s`;
        let bar = "";
        if (total) {
          const filled = Math.min(BAR, Math.round((this.bytes / total) * BAR));
          bar = ` [${"#".repeat(filled)}${" ".repeat(BAR - filled)}] ${Math.min(100, Math.floor((this.bytes / total) * 100))}%`;
        }
        const size = this.o.tar
          ? this.what(false)
          : `${formatBytes(this.bytes)}${total ? ` / ${formatBytes(total)}` : ""}`;
        this.write(`\r\x1b[2K${this.op} ${this.label}${bar} ${size}${layerText} ${rate}${done ? "\n" : ""}`);
      }
    }
  }
}
