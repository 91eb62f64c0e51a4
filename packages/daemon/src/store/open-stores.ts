// The one way the daemon (and tests) get their stores: a config names the backend, the factory
// gives both stores over one database and a close() for it. SQLite (a file in the data dir) is
// the default; PostgreSQL (postgres-stores.ts) passes the same conformance suites.
import { join } from "node:path";
import { maskedPassword } from "../common/argv-secrets.js";
import { openPostgresStores } from "./postgres-stores.js";
import { openSqliteStores } from "./sqlite-stores.js";
import type { Stores } from "./store.js";

export type StoreConfig = { kind: "sqlite"; path: string } | { kind: "postgres"; url: string; schema?: string };

export async function openStores(config: StoreConfig): Promise<Stores> {
  switch (config.kind) {
    case "sqlite":
      return openSqliteStores(config.path);
    case "postgres":
      return openPostgresStores({ url: config.url, schema: config.schema });
  }
}

/** The daemon's store: PostgreSQL when configured with a URL (config.ts `store`), else SQLite in the data dir. */
export function daemonStoreConfig(store: string | null, dataDir: string): StoreConfig {
  return store === null ? { kind: "sqlite", path: join(dataDir, "sbx.db") } : { kind: "postgres", url: store };
}

/** Where the store is, for logs: the URL without its password. */
export function describeStore(config: StoreConfig): string {
  if (config.kind === "sqlite") return `sqlite:${config.path}`;
  return maskedPassword(config.url) ?? new URL(config.url).toString();
}
