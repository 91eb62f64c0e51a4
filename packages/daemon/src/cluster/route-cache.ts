// A control replica's memory of what every forwarded call would otherwise ask PostgreSQL: which
// project a bearer token belongs to, that a project exists, and which node runs a sandbox. Those
// two or three round trips per call were most of what the control plane added to an exec.
//
// Correctness comes from PostgreSQL, not from timeouts: triggers on placements, sandbox_moves,
// nodes, tokens and projects NOTIFY every change that could make an entry wrong (a sandbox created,
// renamed, moved or destroyed; a node's state, address or key changed, or its lease cut short; a
// token revoked; a project deleted), and each replica LISTENs and drops the entries tagged with
// what changed, within milliseconds of the commit. The cache is used only while that listening
// connection is known to be alive (pinged every second): a connection that breaks, or goes silent
// for 3 s, empties the cache and every call asks PostgreSQL again until it is back. A load that
// raced with a notification is not kept (a generation count). Entries also expire after ttlMs, and
// a sandbox's location no later than its node's lease (by the lease left at the lookup), so a node
// that stops renewing is never routed to from memory past its lease.
import { randomUUID } from "node:crypto";
import pg from "pg";
import type { Logger } from "../common/log.js";
import { ident } from "../store/postgres-schema.js";
import { inTransaction } from "../store/postgres-runner.js";

const CHANNEL = "sbx_routes";
/** At most this many entries: past it the cache starts over (a bound, not an LRU: misses are cheap). */
const MAX_ENTRIES = 20_000;

/** The triggers, per table: `tag` is what the notification names (s: sandbox, n: node, t: token hash, p: project). */
function triggerSql(schema: string): string {
  const s = ident(schema);
  const fn = `${s}.sbx_route_notify`;
  const notify = (tag: string): string => `PERFORM pg_notify('${CHANNEL}', TG_TABLE_SCHEMA || '|' || ${tag});`;
  const trigger = (table: string, when: string, cond = ""): string =>
    `DROP TRIGGER IF EXISTS sbx_route_notify ON ${s}.${table};
     CREATE TRIGGER sbx_route_notify AFTER ${when} ON ${s}.${table} FOR EACH ROW ${cond} EXECUTE FUNCTION ${fn}();`;
  return `CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_TABLE_NAME IN ('placements', 'sandbox_moves') THEN
        IF TG_OP <> 'INSERT' THEN ${notify("'s:' || OLD.sandbox_id")} END IF;
        IF TG_OP <> 'DELETE' THEN ${notify("'s:' || NEW.sandbox_id")} END IF;
      ELSIF TG_TABLE_NAME = 'nodes' THEN ${notify("'n:' || OLD.name")}
      ELSIF TG_TABLE_NAME = 'tokens' THEN ${notify("'t:' || OLD.hash")}
      ELSIF TG_TABLE_NAME = 'projects' THEN ${notify("'p:' || OLD.name")}
      END IF;
      RETURN NULL;
    END $$;
    ${trigger("placements", "INSERT OR UPDATE OR DELETE")}
    ${trigger("sandbox_moves", "INSERT OR UPDATE OR DELETE")}
    ${trigger("nodes", "DELETE")}
    DROP TRIGGER IF EXISTS sbx_route_notify_update ON ${s}.nodes;
    CREATE TRIGGER sbx_route_notify_update AFTER UPDATE ON ${s}.nodes FOR EACH ROW
      WHEN (OLD.state IS DISTINCT FROM NEW.state OR OLD.address IS DISTINCT FROM NEW.address
        OR OLD.key_salt IS DISTINCT FROM NEW.key_salt OR OLD.proxy_address IS DISTINCT FROM NEW.proxy_address
        OR NEW.lease_expires_at IS NULL OR NEW.lease_expires_at < OLD.lease_expires_at)
      EXECUTE FUNCTION ${fn}();
    ${trigger("tokens", "UPDATE OR DELETE")}
    ${trigger("projects", "UPDATE OR DELETE")}`;
}

interface Entry {
  value: unknown;
  until: number;
  tags: string[];
}

export interface RouteCacheOptions {
  /** The longest an entry is kept (ms); notifications drop it sooner. */
  ttlMs?: number;
  /** How often the listening connection is checked (ms); silent for 3 of these: the cache is off. */
  pingMs?: number;
  /** The listening connection's application_name (tests tell replicas apart by it). */
  appName?: string;
  log?: Logger;
}

export class RouteCache {
  readonly ttlMs: number;
  private readonly pingMs: number;
  private readonly entries = new Map<string, Entry>();
  private readonly tagged = new Map<string, Set<string>>();
  private gen = 0;
  private client: pg.Client | undefined;
  private connecting: Promise<void> | undefined;
  private lastAlive = 0;
  private pinging = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly waiters = new Map<string, () => void>();
  /** Counters for tests and logs. */
  readonly stats = { hits: 0, misses: 0, dropped: 0 };

  private constructor(
    private readonly url: string,
    private readonly schema: string,
    opts: RouteCacheOptions,
  ) {
    this.ttlMs = opts.ttlMs ?? 10_000;
    this.pingMs = opts.pingMs ?? 1000;
    this.appName = opts.appName ?? "sbxd-routes";
    this.log = opts.log;
  }
  private readonly log: Logger | undefined;
  private readonly appName: string;

  /**
   * Installs the triggers in `schema` (which holds the store's and the cluster's tables) and starts
   * listening. Throws if either fails: a control plane must not run with a cache it cannot keep right.
   */
  static async start(pool: pg.Pool, url: string, schema: string, opts: RouteCacheOptions = {}): Promise<RouteCache> {
    await inTransaction(pool, async (q) => {
      await q.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`sbx-route-triggers:${schema}`]);
      await q.query(triggerSql(schema));
    });
    const cache = new RouteCache(url, schema, opts);
    await cache.connect();
    cache.timer = setInterval(() => cache.tick(), cache.pingMs);
    cache.timer.unref();
    return cache;
  }

  /** Whether entries may be used now: the listening connection is up and answered recently. */
  get live(): boolean {
    return this.client !== undefined && performance.now() - this.lastAlive <= 3 * this.pingMs;
  }

  /**
   * The value under `key`, else what `load` answers. A loaded value is kept if `keep` gives it a
   * lifetime (ms > 0) and its tags, and nothing changed while it loaded; undefined is never kept.
   */
  async get<V>(
    key: string,
    load: () => Promise<V | undefined>,
    keep: (v: V) => { ms: number; tags: string[] } | null,
  ): Promise<V | undefined> {
    if (!this.live) {
      if (this.entries.size > 0) this.clear();
      return load();
    }
    const e = this.entries.get(key);
    if (e && e.until > performance.now()) {
      this.stats.hits++;
      return e.value as V;
    }
    if (e) this.drop(key);
    this.stats.misses++;
    const gen = this.gen;
    const v = await load();
    if (v === undefined || gen !== this.gen || !this.live) return v;
    const k = keep(v);
    if (!k || k.ms <= 0) return v;
    if (this.entries.size >= MAX_ENTRIES) this.clear();
    this.entries.set(key, { value: v, until: performance.now() + Math.min(k.ms, this.ttlMs), tags: k.tags });
    for (const t of k.tags) {
      const set = this.tagged.get(t) ?? new Set();
      set.add(key);
      this.tagged.set(t, set);
    }
    return v;
  }

  /** Drops every entry tagged `tag` (s:<sandbox>, n:<node>, t:<token hash>, p:<project>), now. */
  forget(tag: string): void {
    this.gen++;
    const keys = this.tagged.get(tag);
    if (!keys) return;
    for (const key of [...keys]) this.drop(key);
  }

  /**
   * Resolves once every change committed before the call has reached this replica: its own
   * notification comes back after theirs (PostgreSQL delivers them in commit order).
   */
  async sync(): Promise<void> {
    const c = this.client;
    if (!c) return;
    const payload = `${this.schema}|sync:${randomUUID()}`;
    const back = new Promise<void>((resolve) => this.waiters.set(payload, resolve));
    await c.query("SELECT pg_notify($1, $2)", [CHANNEL, payload]);
    await back;
  }

  /** Entries kept now (tests). */
  get size(): number {
    return this.entries.size;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    const c = this.client;
    this.client = undefined;
    this.clear();
    await c?.end().catch(() => undefined);
  }

  private drop(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    this.stats.dropped++;
    for (const t of e.tags) {
      const set = this.tagged.get(t);
      set?.delete(key);
      if (set?.size === 0) this.tagged.delete(t);
    }
  }

  private clear(): void {
    this.gen++;
    this.entries.clear();
    this.tagged.clear();
  }

  private onNotify(payload: string | undefined): void {
    this.lastAlive = performance.now();
    const waiter = payload === undefined ? undefined : this.waiters.get(payload);
    if (waiter) {
      this.waiters.delete(payload!);
      waiter();
      return;
    }
    const bar = payload?.indexOf("|") ?? -1;
    // Other installations (schemas) on the same database notify on the same channel.
    if (bar < 0 || payload!.slice(0, bar) !== this.schema) return;
    const tag = payload!.slice(bar + 1);
    // Another replica's sync() changes nothing.
    if (!tag.startsWith("sync:")) this.forget(tag);
  }

  private connect(): Promise<void> {
    this.connecting ??= (async () => {
      const c = new pg.Client({ connectionString: this.url, keepAlive: true, application_name: this.appName });
      const down = (why: string): void => this.down(c, why);
      c.on("error", (err) => down(err.message));
      c.on("end", () => down("connection ended"));
      c.on("notification", (m) => this.onNotify(m.payload));
      try {
        await c.connect();
        await c.query(`LISTEN ${CHANNEL}`);
      } catch (err) {
        await c.end().catch(() => undefined);
        throw err;
      }
      if (this.closed) {
        await c.end().catch(() => undefined);
        return;
      }
      // Whatever was kept before this connection listened may have missed a notification.
      this.clear();
      this.client = c;
      this.lastAlive = performance.now();
    })().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private down(c: pg.Client, why: string): void {
    if (this.client !== c) return;
    this.client = undefined;
    this.clear();
    for (const w of this.waiters.values()) w();
    this.waiters.clear();
    this.log?.warn({ why }, "route cache off: its PostgreSQL listening connection broke; reconnecting");
    void c.end().catch(() => undefined);
  }

  private tick(): void {
    const c = this.client;
    if (!c) {
      if (!this.closed) this.connect().catch(() => undefined);
      return;
    }
    if (!this.live) {
      this.down(c, "no answer for 3 pings");
      return;
    }
    if (this.pinging) return;
    this.pinging = true;
    c.query("SELECT 1")
      .then(() => (this.lastAlive = performance.now()))
      .catch((err: Error) => this.down(c, err.message))
      .finally(() => (this.pinging = false));
  }
}
