// The control plane's connection to the cluster tables: a pool on the same database and schema as
// the PostgreSQL store, migrated on open. Node registry and placer share it.
import type pg from "pg";
import { migrateCluster } from "./cluster-schema.js";
import { openPgPool } from "../store/pg-pool.js";

export interface ClusterDb {
  pool: pg.Pool;
  close(): Promise<void>;
}

export async function openClusterDb(opts: { url: string; schema?: string; poolMax?: number }): Promise<ClusterDb> {
  const schema = opts.schema ?? "sbx";
  const pool = await openPgPool({ ...opts, schema, name: "sbxd-cluster", migrate: migrateCluster });
  let closed: Promise<void> | undefined;
  return { pool, close: () => (closed ??= pool.end()) };
}
