// The daemon's PostgreSQL pools (the store's, and the control plane's cluster tables): one schema on
// the search path, sockets that mark their errors as the store's (postgres-outage.ts: a query cut off
// by an outage is told from its own failure), an idle connection the server dropped replaced instead
// of crashing the daemon, and the schema migrated before the pool is handed out.
import pg from "pg";
import { pgSocket } from "./postgres-outage.js";
import { ident } from "./postgres-schema.js";

export interface PgPoolOptions {
  url: string;
  schema: string;
  poolMax?: number;
  /** application_name, as the server's pg_stat_activity shows it. */
  name: string;
  migrate: (pool: pg.Pool, schema: string) => Promise<unknown>;
}

/** A pool on `url` with `schema` migrated; nothing is left open when the migration fails. */
export async function openPgPool(opts: PgPoolOptions): Promise<pg.Pool> {
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.poolMax ?? 10,
    options: `-c search_path=${ident(opts.schema)}`,
    application_name: opts.name,
    stream: pgSocket,
  });
  // An idle connection the server dropped (a restart): the pool replaces it, and the next query
  // that needs the database reports the outage to its caller. Without a listener it would crash.
  pool.on("error", () => undefined);
  try {
    await opts.migrate(pool, opts.schema);
  } catch (err) {
    await pool.end();
    throw err;
  }
  return pool;
}
