// Prepared statements kept per SQL text: the tables prepare their statement on every call, and
// compiling one (parse, plan) cost more than running it. Every exec did a dozen of them.
// The tables only use get/all/run, so one statement per text can serve every caller (none keeps
// an iterator open or switches a statement to pluck/raw mode). The tables bind values, so the texts
// are few; the cap only guards against a future caller that builds values into its SQL.
import type Database from "better-sqlite3";

const MAX_CACHED = 512;

export function cacheStatements(db: Database.Database): void {
  const prepare = db.prepare.bind(db);
  const cache = new Map<string, Database.Statement>();
  db.prepare = ((sql: string) => {
    let stmt = cache.get(sql);
    if (stmt) return stmt;
    stmt = prepare(sql);
    if (cache.size < MAX_CACHED) cache.set(sql, stmt);
    return stmt;
  }) as typeof db.prepare;
}
