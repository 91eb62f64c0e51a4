// The SQLite database file behind both stores (better-sqlite3, WAL): opened owner-only, its schema
// brought up to date by numbered migrations (user_version), its statements cached. The tables on it
// are sqlite-store.ts (projects, tokens, sandboxes, ...) and sqlite-image-store.ts (builds, images, ...).
import Database from "better-sqlite3";
import { chmodSync, closeSync, existsSync, openSync } from "node:fs";
import { cacheStatements } from "./statement-cache.js";
import { IMAGE_MIGRATIONS, STEP_CACHE_MIGRATION, TEMPLATE_BUILDS_MIGRATION } from "./sqlite-image-store.js";

/** The synchronous shape of an async ops interface: what the better-sqlite3 tables implement. */
export type Sync<T> = {
  [K in keyof T]: T[K] extends (...args: infer A) => Promise<infer R> ? (...args: A) => R : never;
};

const MIGRATIONS: string[] = [
  `CREATE TABLE projects (name TEXT PRIMARY KEY, created_at TEXT NOT NULL);
   CREATE TABLE tokens (id TEXT PRIMARY KEY, project TEXT NOT NULL REFERENCES projects(name), hash TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL);
   CREATE TABLE sandboxes (id TEXT PRIMARY KEY, project TEXT NOT NULL, name TEXT, status TEXT NOT NULL,
     net_slot INTEGER, created_at TEXT NOT NULL, doc TEXT NOT NULL);
   CREATE UNIQUE INDEX sandboxes_live_name ON sandboxes(project, name) WHERE name IS NOT NULL AND status != 'terminated';
   CREATE UNIQUE INDEX sandboxes_live_slot ON sandboxes(net_slot) WHERE net_slot IS NOT NULL AND status != 'terminated';
   CREATE TABLE processes (id TEXT PRIMARY KEY, sandbox_id TEXT NOT NULL REFERENCES sandboxes(id) ON DELETE CASCADE,
     status TEXT NOT NULL, started_at TEXT NOT NULL, doc TEXT NOT NULL);
   CREATE INDEX processes_by_sandbox ON processes(sandbox_id, started_at);`,
  ...IMAGE_MIGRATIONS,
  `CREATE TABLE port_exposures (sandbox_id TEXT NOT NULL REFERENCES sandboxes(id) ON DELETE CASCADE, port INTEGER NOT NULL,
     doc TEXT NOT NULL, PRIMARY KEY (sandbox_id, port));`,
  `CREATE TABLE volumes (id TEXT PRIMARY KEY, project TEXT NOT NULL, name TEXT NOT NULL, doc TEXT NOT NULL);
   CREATE UNIQUE INDEX volumes_name ON volumes(project, name);`,
  TEMPLATE_BUILDS_MIGRATION,
  STEP_CACHE_MIGRATION,
];

/** Opens (creating if need be) the database file and brings its schema up to date. */
export function openSqliteDatabase(path: string): Database.Database {
  if (path !== ":memory:") ownerOnly(path);
  const db = new Database(path);
  try {
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    db.pragma("foreign_keys = ON");
    // Replaced secrets (env values, tokens) are overwritten on disk, not left in free pages.
    db.pragma("secure_delete = ON");
    const version = db.pragma("user_version", { simple: true }) as number;
    for (let v = version; v < MIGRATIONS.length; v++) {
      db.transaction(() => {
        db.exec(MIGRATIONS[v]!);
        db.pragma(`user_version = ${v + 1}`);
      })();
    }
  } catch (err) {
    db.close();
    throw err;
  }
  cacheStatements(db);
  return db;
}

/**
 * The database holds sandboxes' env values and tokens: 0600, and so are its WAL and shared-memory
 * files (SQLite gives them the database's mode when it makes them; older layouts made all 0644).
 */
function ownerOnly(path: string): void {
  closeSync(openSync(path, "a", 0o600));
  for (const f of [path, `${path}-wal`, `${path}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
}
