// Build progress as people and scripts want it: `plain` (a line per event, for logs and CI),
// `tty` (the same with colour and a redrawn status line for the running step), `json` (the
// daemon's NDJSON events on stdout) and `quiet`; plus the summary and the failure block.
import { Option } from "commander";
import pc from "picocolors";
import type { BuildEvent, BuildInfo, ImageInfo } from "@sbx-sh/protocol";
import { formatBytes, formatSource } from "@sbx-sh/sdk/internal";

export type ProgressMode = "tty" | "plain" | "json" | "quiet";

/** `--progress <mode>` of the commands that show a build. */
export function progressOption(): Option {
  return new Option(
    "--progress <mode>",
    "auto (tty on a terminal, else plain), tty, plain, or json (the events as NDJSON on stdout)",
  )
    .choices(["auto", "tty", "plain", "json"])
    .default("auto");
}

/** The mode a `--progress` value (and `--quiet`) picks; `auto` is tty on a terminal. */
export function progressMode(flag: string | undefined, quiet?: boolean): ProgressMode {
  if (quiet) return "quiet";
  if (flag === "tty" || flag === "plain" || flag === "json") return flag;
  return process.stderr.isTTY ? "tty" : "plain";
}

export interface ProgressOptions {
  mode: ProgressMode;
  /** Human output; default stderr. */
  err?: (text: string) => void;
  /** Machine output (json mode); default stdout. */
  out?: (text: string) => void;
  color?: boolean;
  columns?: number;
  now?: () => number;
}

const SPINNER = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

export class BuildProgress {
  /** The final build record, once the `done` event has been shown. */
  ended: BuildInfo | undefined;
  private readonly mode: ProgressMode;
  private readonly err: (text: string) => void;
  private readonly out: (text: string) => void;
  private readonly c: ReturnType<typeof pc.createColors>;
  private readonly columns: number;
  private readonly now: () => number;
  private readonly partial = new Map<string, string>();
  private running: { step: number; total: number; text: string; since: number } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private frame = 0;
  private statusShown = false;
  private cached = 0;
  private durations = 0;
  private total = 0;

  constructor(o: ProgressOptions) {
    this.mode = o.mode;
    this.err = o.err ?? ((t) => void process.stderr.write(t));
    this.out = o.out ?? ((t) => void process.stdout.write(t));
    this.c = pc.createColors(o.mode === "tty" && (o.color ?? pc.isColorSupported));
    this.columns = o.columns || process.stderr.columns || 80;
    this.now = o.now ?? Date.now;
  }

  /** A note before the build starts (packing, uploading). */
  note(message: string): void {
    if (this.mode === "plain" || this.mode === "tty") this.line(this.c.dim(message));
  }

  onEvent(ev: BuildEvent): void {
    if (this.mode === "json") {
      this.out(`${JSON.stringify(ev)}\n`);
      if (ev.type === "done") this.end(ev.build, ev.image, false);
      return;
    }
    if (this.mode === "quiet") {
      if (ev.type === "done") this.end(ev.build, ev.image, false);
      return;
    }
    const c = this.c;
    switch (ev.type) {
      case "build":
        this.line(
          c.dim(
            `building ${ev.build.imageName}:${ev.build.tag} (build ${ev.build.id}, ${ev.build.steps} step${ev.build.steps === 1 ? "" : "s"})`,
          ),
        );
        return;
      case "step":
        this.flush();
        this.total = ev.total;
        if (ev.cached) {
          this.cached++;
          this.line(c.dim(`CACHED [${ev.step}/${ev.total}] ${ev.text}`));
        } else {
          this.running = { step: ev.step, total: ev.total, text: ev.text, since: this.now() };
          this.line(c.bold(c.cyan(`[${ev.step}/${ev.total}]`)) + c.bold(` ${ev.text}`));
          this.startTimer();
        }
        return;
      case "log": {
        const key = `${ev.step}:${ev.stream}`;
        const parts = ((this.partial.get(key) ?? "") + ev.data).split("\n");
        this.partial.set(key, parts.pop() ?? "");
        for (const p of parts) this.logLine(p, ev.stream);
        return;
      }
      case "step_done":
        this.flush();
        this.durations += ev.durationMs;
        if (!ev.cached) {
          const layer = ev.layer ? `, layer ${formatBytes(ev.layer.sizeBytes)}` : "";
          const text =
            this.mode === "tty"
              ? c.green(`  ✓ done in ${formatDuration(ev.durationMs)}${layer}`)
              : `[${ev.step}/${this.total}] done in ${formatDuration(ev.durationMs)}${layer}`;
          this.running = undefined;
          this.stopTimer();
          this.line(text);
        }
        return;
      case "done":
        this.flush();
        this.running = undefined;
        this.stopTimer();
        this.end(ev.build, ev.image, true);
        return;
    }
  }

  /** Stops the status line; call when the command ends however it ends. */
  close(): void {
    this.flush();
    this.running = undefined;
    this.stopTimer();
  }

  private end(build: BuildInfo, image: ImageInfo | null, human: boolean): void {
    this.ended = build;
    if (build.state === "failed") this.line(failureLines(build, this.mode === "tty" ? this.c : undefined).join("\n"));
    else if (build.state === "cancelled")
      this.line(`build ${build.id} of ${build.imageName}:${build.tag} was cancelled`);
    else if (human && image)
      this.line(summaryLines(build, image, { cached: this.cached, durationMs: this.durations }).join("\n"));
  }

  private logLine(text: string, stream: "stdout" | "stderr"): void {
    // A line redrawn with \r (progress bars) shows what a terminal would: its last state.
    const shown = text.split("\r").filter(Boolean).pop() ?? "";
    const bar = this.mode === "tty" ? this.c.dim("  │ ") : "  | ";
    this.line(
      bar +
        (this.mode === "tty" && stream === "stderr"
          ? this.c.yellow(shown)
          : this.mode === "tty"
            ? this.c.dim(shown)
            : shown),
    );
  }

  private flush(): void {
    for (const [key, rest] of this.partial) if (rest) this.logLine(rest, key.endsWith("stderr") ? "stderr" : "stdout");
    this.partial.clear();
  }

  private line(text: string): void {
    this.clearStatus();
    this.err(`${text}\n`);
    this.drawStatus();
  }

  private startTimer(): void {
    if (this.mode !== "tty" || this.timer) return;
    this.timer = setInterval(() => {
      this.frame++;
      this.clearStatus();
      this.drawStatus();
    }, 100);
    this.timer.unref();
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.clearStatus();
  }

  private drawStatus(): void {
    if (this.mode !== "tty" || !this.running) return;
    const r = this.running;
    const elapsed = formatDuration(this.now() - r.since);
    const head = `${SPINNER[this.frame % SPINNER.length]} [${r.step}/${r.total}] `;
    const room = Math.max(10, this.columns - head.length - elapsed.length - 2);
    const text = r.text.length > room ? `${r.text.slice(0, room - 1)}…` : r.text;
    this.err(this.c.cyan(head) + text + " " + this.c.dim(elapsed));
    this.statusShown = true;
  }

  private clearStatus(): void {
    if (!this.statusShown) return;
    this.err("\r\x1b[2K");
    this.statusShown = false;
  }
}

/** What went wrong, for people: the step, its source line, the exit code and the last lines. */
export function failureLines(build: BuildInfo, c?: ReturnType<typeof pc.createColors>): string[] {
  const f = build.failure;
  const red = c ? c.red : (s: string) => s;
  const lines = [
    `${red("error:")} build ${build.id} of ${build.imageName}:${build.tag} failed${f?.step ? ` at step ${f.step}/${build.steps}` : ""}`,
  ];
  if (f?.text) lines.push(`  step:       ${f.text}`);
  if (f?.source) lines.push(`  source:     ${formatSource(f.source)}`);
  if (f?.exitCode !== null && f?.exitCode !== undefined) lines.push(`  exit code:  ${f.exitCode}`);
  if (f?.message) lines.push(`  reason:     ${f.message}`);
  if (f?.lastLines.length) lines.push("  last lines:", ...f.lastLines.map((l) => `    | ${l}`));
  lines.push(`  full log:   sbx image logs ${build.id}`);
  return lines;
}

export function summaryLines(
  build: BuildInfo,
  image: ImageInfo,
  stats: { cached: number; durationMs: number },
): string[] {
  const started = build.startedAt ? Date.parse(build.startedAt) : NaN;
  const ended = build.endedAt ? Date.parse(build.endedAt) : NaN;
  const total = Number.isFinite(started) && Number.isFinite(ended) ? ended - started : stats.durationMs;
  const cached = stats.cached ? `, ${stats.cached} cached` : "";
  return [
    `built ${image.name}:${image.tag} in ${formatDuration(total)} (${build.steps} step${build.steps === 1 ? "" : "s"}${cached})`,
    `  image  ${image.name}:${image.tag}`,
    `  id     ${image.id}`,
    `  size   ${formatBytes(image.sizeBytes)}`,
  ];
}

/** 850ms, 3.2s, 2m05s. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
}
