// Calls in flight to a node that stops renewing its lease (frozen, cut off) must not hang: the
// TCP connection may stay open while nothing answers. Every forwarded call registers here with its
// node; once a second, one query asks which of the watched nodes are lost, revoked or past their
// lease (the database's clock), and their calls are aborted with node_unavailable. The timer runs
// while calls are watched, and stops at the first check that finds none.
import type { Pool } from "pg";

export class NodeWatch {
  private readonly watchers = new Map<string, Set<(reason: string) => void>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly pool: Pool,
    private readonly everyMs = 1000,
  ) {}

  /** Calls `onLost` once if `node` stops being live while watched; answers the unwatch function. */
  watch(node: string, onLost: (reason: string) => void): () => void {
    const set = this.watchers.get(node) ?? new Set();
    this.watchers.set(node, set);
    set.add(onLost);
    this.timer ??= setInterval(() => void this.check(), this.everyMs).unref();
    return () => {
      set.delete(onLost);
      // check() may have dropped this set and a newer one taken its place: delete only our own.
      if (set.size === 0 && this.watchers.get(node) === set) this.watchers.delete(node);
      // The timer stays until a check finds nothing watched: calls one after another (each a few
      // milliseconds) then share one timer, not a setInterval and clearInterval each.
    };
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async check(): Promise<void> {
    const names = [...this.watchers.keys()];
    if (names.length === 0) {
      this.stop();
      return;
    }
    const { rows } = await this.pool
      .query<{ name: string; state: string }>(
        `SELECT name, state FROM nodes WHERE name = ANY($1::text[])
           AND (state IN ('lost', 'revoked') OR lease_expires_at IS NULL OR lease_expires_at <= now())`,
        [names],
      )
      .catch(() => ({ rows: [] as Array<{ name: string; state: string }> }));
    for (const r of rows) {
      const why = r.state === "revoked" ? "was revoked" : "stopped renewing its lease";
      for (const onLost of this.watchers.get(r.name) ?? []) onLost(`node ${r.name} ${why}`);
      this.watchers.delete(r.name);
    }
    if (this.watchers.size === 0) this.stop();
  }
}
