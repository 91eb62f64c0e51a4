// The one way the daemon (and tests) get their stores: a config names the backend, the factory
// gives both stores over one database and a close() for it. SQLite is the only backend today;
// a PostgreSQL one would be another case here, passing the same conformance suites.
import { openSqliteStores } from "./sqlite-stores.js";
import type { Stores } from "./store.js";

export type StoreConfig = { kind: "sqlite"; path: string };

export async function openStores(config: StoreConfig): Promise<Stores> {
  switch (config.kind) {
    case "sqlite":
      return openSqliteStores(config.path);
  }
}
