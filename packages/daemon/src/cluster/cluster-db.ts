// The control plane's connection to the cluster tables: a pool on the same database and schema as
// the PostgreSQL store, migrated on open. Node registry and placer share it.
import pg from "pg";
import { migrateCluster } from "./cluster-schema.js";
import { ident } from "../store/postgres-schema.js";
import { pgSocket } from "../store/postgres-outage.js";

export interface ClusterDb {
  pool: pg.Pool;
  close(): Promise<void>;
}

export async function openClusterDb(opts: { url: string; schema?: string; poolMax?: number }): Promise<ClusterDb> {
  const schema = opts.schema ?? "sbx";
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.poolMax ?? 10,
    options: `-c search_path=${ident(schema)}`,
    application_name: "sbxd-cluster",
    // Its sockets mark their errors, so a query cut off by an outage is told from its own failure.
    stream: pgSocket,
  });
  // Idle connections the server dropped are replaced; queries report outages to their callers.
  pool.on("error", () => undefined);
  try {
    await migrateCluster(pool, schema);
  } catch (err) {
    await pool.end();
    throw err;
  }
  let closed: Promise<void> | undefined;
  return { pool, close: () => (closed ??= pool.end()) };
}
