// Retention of terminated sandboxes: their records stay listable (`sbx ls -a`, `sbx info`) for a
// while so users can see why they ended, then they are forgotten, so listings do not grow without
// bound. A timer prunes what is older than the retention; `sbx prune` forgets them now.
import type { Logger } from "../common/log.js";
import type { SandboxRecord } from "../domain/records.js";
import type { Store } from "../store/store.js";

export class SandboxRetention {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: Pick<Store, "listSandboxes" | "deleteSandbox">,
    /** Seconds a terminated sandbox is kept (--retention). */
    private readonly retentionSecs: number,
    private readonly log: Logger,
  ) {}

  /**
   * Forgets terminated sandboxes that ended more than `olderThanSecs` ago (default: the retention),
   * of one project or of all; answers the forgotten records.
   */
  async prune(project?: string, olderThanSecs = this.retentionSecs): Promise<SandboxRecord[]> {
    const cutoff = Date.now() - olderThanSecs * 1000;
    const all = await this.store.listSandboxes({ project, includeTerminated: true });
    const old = all.filter((s) => s.status === "terminated" && Date.parse(s.terminatedAt ?? s.createdAt) <= cutoff);
    for (const s of old) await this.store.deleteSandbox(s.id);
    return old;
  }

  /** Prunes now and then every `everyMs` (default: a tenth of the retention, 10 s to 1 h); never keeps the daemon alive. */
  start(everyMs = Math.min(3_600_000, Math.max(10_000, this.retentionSecs * 100))): void {
    const run = (): void => {
      this.prune()
        .then((gone) => {
          if (gone.length) this.log.info({ pruned: gone.length }, "pruned terminated sandboxes past their retention");
        })
        .catch((err: unknown) => this.log.warn({ err }, "pruning terminated sandboxes failed"));
    };
    run();
    this.timer = setInterval(run, everyMs);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
  }
}
