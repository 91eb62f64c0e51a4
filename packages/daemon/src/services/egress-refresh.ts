// Keeps host names in egress policies current: every interval, the names of live sandboxes are
// re-resolved on the host, and a sandbox whose names now have other addresses gets its chain
// swapped atomically (SandboxService.setEgressHosts). A failed lookup keeps the last addresses.
import type { Store } from "../store/store.js";
import { hostResolver, refreshHosts, type Resolver } from "./egress.js";
import type { Logger } from "../common/log.js";
import type { SandboxService } from "./sandbox-service.js";

export class EgressRefresher {
  private timer: NodeJS.Timeout | undefined;
  private busy: Promise<number> | undefined;

  constructor(
    private readonly store: Store,
    private readonly sandboxes: SandboxService,
    private readonly log: Logger,
    private readonly resolve: Resolver = hostResolver,
  ) {}

  start(intervalMs: number): void {
    this.timer = setInterval(
      () => void this.refresh().catch((err: unknown) => this.log.error({ err }, "egress name refresh failed")),
      intervalMs,
    );
    this.timer.unref();
  }

  /** One pass over live sandboxes with names; answers how many got new addresses. Passes never overlap. */
  refresh(): Promise<number> {
    this.busy ??= this.pass().finally(() => (this.busy = undefined));
    return this.busy;
  }

  private async pass(): Promise<number> {
    let updated = 0;
    for (const s of await this.store.listSandboxes({ includeTerminated: false })) {
      if (!s.egressHosts || Object.keys(s.egressHosts).length === 0) continue;
      const r = await refreshHosts(s.egressHosts, this.resolve);
      if (r.failed.length > 0)
        this.log.warn(
          { sandbox: s.id, names: r.failed },
          "egress host names did not resolve; keeping their last addresses",
        );
      if (!r.changed) continue;
      await this.sandboxes.setEgressHosts(s.id, r.hosts);
      this.log.info({ sandbox: s.id, hosts: r.hosts }, "egress host names resolve to new addresses");
      updated++;
    }
    return updated;
  }

  close(): void {
    clearInterval(this.timer);
  }
}
