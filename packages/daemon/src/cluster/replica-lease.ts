// A control plane replica's lease in PostgreSQL (the table control_replicas): its id, renewed every
// third of the lease on the database's clock. It is the owner recorded on the builds the replica
// runs (services/build-owner.ts), so another replica can tell a build whose replica died (kill -9:
// lease ran out) from one still running elsewhere, and fail only the former. A replica that stops
// cleanly removes its row; rows of dead replicas are dropped an hour after their lease ran out.
import { randomUUID } from "node:crypto";
import type { BuildOwner } from "../services/build-owner.js";
import { openClusterDb, type ClusterDb } from "./cluster-db.js";
import type { Logger } from "../common/log.js";

export class ReplicaLease implements BuildOwner {
  readonly id = `ctl-${randomUUID()}`;
  private timer: NodeJS.Timeout | undefined;
  private readonly ticks: Array<() => Promise<unknown>> = [];

  private constructor(
    private readonly db: ClusterDb,
    private readonly leaseSecs: number,
    private readonly log: Logger,
  ) {}

  /** Opens the cluster tables of `url` (migrating them) and takes this replica's lease. */
  static async start(url: string, leaseSecs: number, log: Logger, schema?: string): Promise<ReplicaLease> {
    const db = await openClusterDb({ url, poolMax: 2, ...(schema ? { schema } : {}) });
    const lease = new ReplicaLease(db, leaseSecs, log);
    await lease.renew();
    lease.timer = setInterval(() => void lease.tick(), Math.max(100, (leaseSecs * 1000) / 3));
    lease.timer.unref();
    return lease;
  }

  /** Runs `fn` after every renewal (the daemon fails orphaned builds there). */
  every(fn: () => Promise<unknown>): void {
    this.ticks.push(fn);
  }

  async isGone(owner: string | undefined): Promise<boolean> {
    if (owner === this.id) return false;
    if (owner === undefined) return true;
    const { rows } = await this.db.pool.query<{ live: boolean }>(
      "SELECT lease_expires_at >= now() AS live FROM control_replicas WHERE id = $1",
      [owner],
    );
    return rows[0]?.live !== true;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.db.pool.query("DELETE FROM control_replicas WHERE id = $1", [this.id]).catch(() => undefined);
    await this.db.close();
  }

  private async renew(): Promise<void> {
    await this.db.pool.query(
      `INSERT INTO control_replicas (id, lease_expires_at) VALUES ($1, now() + make_interval(secs => $2))
       ON CONFLICT (id) DO UPDATE SET lease_expires_at = excluded.lease_expires_at`,
      [this.id, this.leaseSecs],
    );
  }

  private async tick(): Promise<void> {
    try {
      await this.renew();
      await this.db.pool.query("DELETE FROM control_replicas WHERE lease_expires_at < now() - interval '1 hour'");
      for (const fn of this.ticks) await fn();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "control replica lease renewal failed");
    }
  }
}
