// Resource use of running sandboxes (`sbx stats`, `sbx top`, the dashboard's graph, the metrics):
// the runtime reads the host's counters; this turns cpu time into a percentage since the previous
// reading of the same sandbox (by whichever client), or since its start for a first reading.
import type { SandboxRecord } from "../domain/records.js";
import type { SandboxRuntime, SandboxStats } from "../runtime/runtime.js";
import type { Store } from "../store/store.js";
import type { SandboxEvents } from "./sandbox-events.js";
import type { SandboxService } from "./sandbox-service.js";

export interface Usage extends SandboxStats {
  sandbox: SandboxRecord;
  time: Date;
  cpuPercent: number;
}

export class StatsService {
  private readonly previous = new Map<string, { at: number; cpuUsec: number }>();

  constructor(
    private readonly store: Store,
    private readonly runtime: SandboxRuntime,
    private readonly sandboxes: SandboxService,
    events: SandboxEvents,
  ) {
    events.onGone((s) => void this.previous.delete(s.id));
  }

  async get(project: string, idOrName: string): Promise<Usage> {
    return this.read(await this.sandboxes.getRunning(project, idOrName));
  }

  /** The project's running sandboxes (or the ones named in `ids`, each of which must be running). */
  async list(project: string, ids: string[] = []): Promise<Usage[]> {
    const records = ids.length
      ? await Promise.all(ids.map((id) => this.sandboxes.getRunning(project, id)))
      : (await this.sandboxes.list(project, false)).filter((s) => s.status === "running");
    return Promise.all(records.map((s) => this.read(s)));
  }

  /** Every project's running sandboxes, at most `limit` of them (the metrics' cardinality guard). */
  async all(limit: number): Promise<{ usage: Usage[]; running: number }> {
    const running = (await this.store.listSandboxes({})).filter((s) => s.status === "running");
    return { usage: await Promise.all(running.slice(0, limit).map((s) => this.read(s))), running: running.length };
  }

  private async read(s: SandboxRecord): Promise<Usage> {
    const stats = await this.runtime.stats(s.id, s.netSlot);
    const now = Date.now();
    const before = this.previous.get(s.id) ?? {
      at: s.startedAt ? Date.parse(s.startedAt) : now,
      cpuUsec: 0,
    };
    const wallUsec = (now - before.at) * 1000;
    const cpuPercent = wallUsec > 0 ? Math.max(0, ((stats.cpuUsec - before.cpuUsec) / wallUsec) * 100) : 0;
    this.previous.set(s.id, { at: now, cpuUsec: stats.cpuUsec });
    return { ...stats, sandbox: s, time: new Date(now), cpuPercent: Math.round(cpuPercent * 10) / 10 };
  }
}
