// Progress of a base image build the daemon runs on demand while `sbx create` or `sbx image build`
// waits (the first use of debian-minimal on a host takes a minute or more): the daemon's
// `base.progress` events, followed while the request is in flight, shown in the style of the
// transfer meters on stderr: a redrawn line on a terminal, a plain line per phase otherwise,
// NDJSON events with --json, nothing with -q. A base that is already built shows nothing.
import type { SandboxClient, SbxEvent } from "@sbx-sh/sdk";
import type { TransferMode } from "./transfer-progress.js";

const PLAIN_EVERY_MS = 5000;

export class BaseBuildProgress {
  /** Set while a build is past its first phase and not yet ready. */
  open = false;
  private readyWaiter: (() => void) | undefined;
  private shown = false;
  private lastPhase = "";
  private lastPlain = 0;
  private readonly write: (text: string) => void;
  private readonly now: () => number;

  constructor(
    private readonly mode: TransferMode,
    write?: (text: string) => void,
    now?: () => number,
  ) {
    this.write = write ?? ((t) => void process.stderr.write(t));
    this.now = now ?? Date.now;
  }

  onEvent(ev: SbxEvent): void {
    if (ev.type !== "base.progress") return;
    const a = ev.attributes;
    // Attributes are the daemon's; shown as text only, with control characters dropped.
    const base = clean(a.base ?? ev.subject);
    const phase = clean(a.phase);
    const step = Number(a.step);
    const total = Number(a.total);
    const packages = typeof a.packages === "number" && typeof a.packagesTotal === "number" ? a.packages : null;
    const packagesTotal = packages === null ? null : Number(a.packagesTotal);
    const counted = packages === null ? "" : ` (${packages}/${packagesTotal} packages)`;
    const newPhase = phase !== this.lastPhase;
    this.lastPhase = phase;
    const done = phase === "ready";
    this.open = !done;
    if (done) this.readyWaiter?.();
    switch (this.mode) {
      case "quiet":
        return;
      case "json":
        this.write(
          JSON.stringify({
            event: "progress",
            op: "base",
            label: base,
            phase,
            step,
            total,
            packages,
            packagesTotal,
            done,
          }) + "\n",
        );
        return;
      case "plain": {
        // A line per phase, and a count line at most every few seconds (like the transfer meters).
        const t = this.now();
        if (!newPhase && t - this.lastPlain < PLAIN_EVERY_MS) return;
        this.lastPlain = t;
        this.write(`base ${base}: [${step}/${total}] ${phase}${counted}\n`);
        return;
      }
      case "tty":
        this.shown = !done;
        this.write(`\r\x1b[2Kbuilding base image ${base}: [${step}/${total}] ${phase}${counted}${done ? "\n" : ""}`);
    }
  }

  /** Resolves at the next ready event, or after ms: the stream may deliver it after the request's answer. */
  ready(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.readyWaiter = () => (clearTimeout(t), resolve());
    });
  }

  /** Ends a live line left open (the request failed mid-build). */
  close(): void {
    if (this.shown) this.write("\n");
    this.shown = false;
  }
}

function clean(v: unknown): string {
  return String(v ?? "").replace(/[\p{Cc}]/gu, "");
}

/**
 * Runs `work` (a request that may wait on a base build) while following the project's
 * `base.progress` events. The stream opens before the request is sent; events published before the
 * daemon registered it are missed, which costs at most the first phase of a build.
 */
export async function withBaseProgress<T>(
  client: SandboxClient,
  view: BaseBuildProgress,
  work: () => Promise<T>,
): Promise<T> {
  const abort = new AbortController();
  const following = (async () => {
    try {
      for await (const ev of client.events({ types: ["base.progress"], signal: abort.signal })) view.onEvent(ev);
    } catch {
      // Progress is a courtesy: a stream that fails leaves the request to answer for itself.
    }
  })();
  try {
    const result = await work();
    if (view.open) await view.ready(2000);
    return result;
  } finally {
    abort.abort();
    await following;
    view.close();
  }
}
