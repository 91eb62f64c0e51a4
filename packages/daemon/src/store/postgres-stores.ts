// Store and ImageStore on PostgreSQL (node-postgres): one connection pool for both, migrations run
// at open, and transactions that span both stores on one pooled connection. Several daemons may
// share the database (the cluster's control replicas); a `schema` keeps several installations (or
// tests) apart in one database.
import { PgImageOps } from "./postgres-images.js";
import { PgMetaOps } from "./postgres-meta.js";
import { inTransaction, poolRunner, type PgRunner } from "./postgres-runner.js";
import { migrate } from "./postgres-schema.js";
import { openPgPool } from "./pg-pool.js";
import { IMAGE_METHODS, META_METHODS } from "./sqlite-stores.js";
import type { ImageOps, ImageStore, MetaOps, Store, Stores, StoreTx } from "./store.js";

export interface PostgresStoreOptions {
  /** postgres://user:password@host:port/database (libpq URL; sslmode and the like pass through). */
  url: string;
  /** Schema holding sbx's tables (created if missing); default "sbx". */
  schema?: string;
  /** Most connections the pool opens; default 10. */
  poolMax?: number;
}

/** The interface's methods of `ops`, bound to it, as a plain object that spreads into a Store. */
function bindAll<T extends object>(ops: T, methods: readonly (keyof T & string)[]): T {
  const out: Record<string, unknown> = {};
  for (const m of methods) out[m] = (ops[m] as (...a: unknown[]) => unknown).bind(ops);
  return out as T;
}
const metaOps = (q: PgRunner): MetaOps => bindAll(new PgMetaOps(q), META_METHODS);
const imageOps = (q: PgRunner): ImageOps => bindAll(new PgImageOps(q), IMAGE_METHODS);

/** Opens a pool on `url`, migrates `schema`, and gives both stores over it. */
export async function openPostgresStores(opts: PostgresStoreOptions): Promise<Stores> {
  const schema = opts.schema ?? "sbx";
  const pool = await openPgPool({ ...opts, schema, name: "sbxd", migrate });
  const plain = poolRunner(pool);
  const transaction = <T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> =>
    inTransaction(pool, (q) => fn({ ...metaOps(q), ...imageOps(q) }));
  const meta: Store = { ...metaOps(plain), transaction };
  const images: ImageStore = { ...imageOps(plain), transaction };
  let closed: Promise<void> | undefined;
  return {
    meta,
    images,
    close() {
      // pool.end() waits for checked-out connections (an open transaction) to come back first.
      closed ??= pool.end();
      return closed;
    },
  };
}
