// The PostgreSQL schema of the stores and its versioned migrations. Like the SQLite store, each
// record is kept whole (jsonb `doc`); the fields we query on are generated columns derived from
// it, so an update is one `doc = doc || patch` statement and can never leave them out of step.
// Text we sort on is COLLATE "C" so that orders match SQLite's byte order whatever the
// database's locale. Applied versions are rows of `schema_migrations`; each migration runs in its
// own transaction under an advisory lock, so daemons starting together migrate once.
import type { Pool, PoolClient } from "pg";

/** The database's clock as an ISO-8601 UTC string, the format every record's timestamps use. */
export const ISO_NOW = `to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

export const PG_MIGRATIONS: string[] = [
  `CREATE TABLE projects (name text COLLATE "C" PRIMARY KEY, created_at text NOT NULL);
   INSERT INTO projects (name, created_at) VALUES ('default', ${ISO_NOW});
   CREATE TABLE tokens (id text PRIMARY KEY, project text NOT NULL REFERENCES projects(name), hash text NOT NULL UNIQUE,
     created_at text NOT NULL);
   CREATE TABLE sandboxes (id text COLLATE "C" PRIMARY KEY, doc jsonb NOT NULL,
     project text COLLATE "C" GENERATED ALWAYS AS (doc->>'project') STORED,
     name text COLLATE "C" GENERATED ALWAYS AS (doc->>'name') STORED,
     status text GENERATED ALWAYS AS (doc->>'status') STORED,
     net_slot integer GENERATED ALWAYS AS ((doc->>'netSlot')::integer) STORED,
     created_at text COLLATE "C" GENERATED ALWAYS AS (doc->>'createdAt') STORED);
   CREATE UNIQUE INDEX sandboxes_live_name ON sandboxes(project, name) WHERE name IS NOT NULL AND status <> 'terminated';
   CREATE UNIQUE INDEX sandboxes_live_slot ON sandboxes(net_slot) WHERE net_slot IS NOT NULL AND status <> 'terminated';
   CREATE INDEX sandboxes_by_project ON sandboxes(project, created_at);
   CREATE TABLE processes (id text PRIMARY KEY, sandbox_id text NOT NULL REFERENCES sandboxes(id) ON DELETE CASCADE,
     doc jsonb NOT NULL,
     status text GENERATED ALWAYS AS (doc->>'status') STORED,
     started_at text COLLATE "C" GENERATED ALWAYS AS (doc->>'startedAt') STORED);
   CREATE INDEX processes_by_sandbox ON processes(sandbox_id, started_at);
   CREATE INDEX processes_running ON processes(status) WHERE status = 'running';
   CREATE TABLE port_exposures (sandbox_id text COLLATE "C" NOT NULL REFERENCES sandboxes(id) ON DELETE CASCADE,
     port integer NOT NULL, doc jsonb NOT NULL, PRIMARY KEY (sandbox_id, port));
   CREATE TABLE builds (id text PRIMARY KEY, doc jsonb NOT NULL,
     project text GENERATED ALWAYS AS (doc->>'project') STORED,
     state text GENERATED ALWAYS AS (doc->>'state') STORED,
     created_at text COLLATE "C" GENERATED ALWAYS AS (doc->>'createdAt') STORED);
   CREATE INDEX builds_by_project ON builds(project, created_at);
   CREATE TABLE layers (key text PRIMARY KEY, doc jsonb NOT NULL,
     created_at text COLLATE "C" GENERATED ALWAYS AS (doc->>'createdAt') STORED);
   CREATE TABLE images (ref text PRIMARY KEY, doc jsonb NOT NULL,
     project text COLLATE "C" GENERATED ALWAYS AS (doc->>'project') STORED,
     name text COLLATE "C" GENERATED ALWAYS AS (doc->>'name') STORED,
     tag text COLLATE "C" GENERATED ALWAYS AS (doc->>'tag') STORED,
     deleted_at text GENERATED ALWAYS AS (doc->>'deletedAt') STORED,
     created_at text COLLATE "C" GENERATED ALWAYS AS (doc->>'createdAt') STORED);
   CREATE UNIQUE INDEX images_live_name ON images(project, name, tag) WHERE deleted_at IS NULL;
   CREATE TABLE snapshots (id text PRIMARY KEY, doc jsonb NOT NULL,
     project text GENERATED ALWAYS AS (doc->>'project') STORED,
     status text GENERATED ALWAYS AS (doc->>'status') STORED,
     created_at text COLLATE "C" GENERATED ALWAYS AS (doc->>'createdAt') STORED);
   CREATE INDEX snapshots_by_project ON snapshots(project, created_at);`,
  `CREATE TABLE volumes (id text PRIMARY KEY, doc jsonb NOT NULL,
     project text COLLATE "C" GENERATED ALWAYS AS (doc->>'project') STORED,
     name text COLLATE "C" GENERATED ALWAYS AS (doc->>'name') STORED);
   CREATE UNIQUE INDEX volumes_name ON volumes(project, name);`,
  `CREATE TABLE template_builds (id text PRIMARY KEY, doc jsonb NOT NULL,
     state text GENERATED ALWAYS AS (doc->>'state') STORED,
     created_at text COLLATE "C" GENERATED ALWAYS AS (doc->>'createdAt') STORED);
   CREATE INDEX template_builds_by_state ON template_builds(state);`,
  // The step cache's pointers (ImageOps.pointStep).
  `CREATE TABLE step_cache (step_key text PRIMARY KEY, layer_key text NOT NULL);
   CREATE INDEX step_cache_by_layer ON step_cache(layer_key);`,
];

/** A quoted identifier (schema names come from configuration). */
export function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * Brings `schema` up to date with `migrations` (each once, in order) and answers how many it ran.
 * Migrations of later modules (the cluster tables) pass their own list and table.
 */
export async function migrate(
  pool: Pool,
  schema: string,
  migrations: readonly string[] = PG_MIGRATIONS,
  table = "schema_migrations",
): Promise<number> {
  const client: PoolClient = await pool.connect();
  let ran = 0;
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${ident(schema)}`).catch(async (err: unknown) => {
      // Two daemons creating the schema at once: one wins, the other sees the unique violation.
      if (!(err instanceof Error && "code" in err && err.code === "23505")) throw err;
    });
    for (;;) {
      await client.query("BEGIN");
      try {
        // One migrator per schema and table at a time; the lock ends with the transaction.
        await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`sbx-migrate:${schema}.${table}`]);
        await client.query(
          `CREATE TABLE IF NOT EXISTS ${ident(schema)}.${ident(table)} (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
        );
        const { rows } = await client.query<{ v: number | null }>(
          `SELECT max(version) AS v FROM ${ident(schema)}.${ident(table)}`,
        );
        const next = (rows[0]?.v ?? 0) + 1;
        if (next > migrations.length) {
          await client.query("COMMIT");
          return ran;
        }
        await client.query(`SET LOCAL search_path TO ${ident(schema)}`);
        await client.query(migrations[next - 1]!);
        await client.query(`INSERT INTO ${ident(schema)}.${ident(table)} (version) VALUES ($1)`, [next]);
        await client.query("COMMIT");
        ran++;
      } catch (err) {
        await client.query("ROLLBACK").catch(() => undefined);
        throw err;
      }
    }
  } finally {
    client.release();
  }
}
