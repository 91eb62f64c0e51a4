// The cluster's tables in PostgreSQL, beside the store's (same schema, own version table
// `cluster_migrations`): nodes with their credential, capacity, allocations, cached layers and
// lease; placements (which node holds which sandbox's resources); per-project quotas. Resources
// are whole units (millicpus, MB) so sums never drift. Every time is the database's clock.
import type { Pool } from "pg";
import { migrate } from "../store/postgres-schema.js";
import { PLACE_FUNCTION, QUOTA_USAGE } from "./place-function.js";

export const CLUSTER_MIGRATIONS: string[] = [
  `CREATE TABLE nodes (
     name text COLLATE "C" PRIMARY KEY,
     token_hash text NOT NULL UNIQUE,
     labels jsonb NOT NULL DEFAULT '{}',
     state text NOT NULL DEFAULT 'new' CHECK (state IN ('new', 'ready', 'cordoned', 'draining', 'lost', 'revoked')),
     address text,
     cpu_millis integer NOT NULL DEFAULT 0 CHECK (cpu_millis >= 0),
     memory_mb integer NOT NULL DEFAULT 0 CHECK (memory_mb >= 0),
     disk_mb integer NOT NULL DEFAULT 0 CHECK (disk_mb >= 0),
     alloc_cpu_millis integer NOT NULL DEFAULT 0 CHECK (alloc_cpu_millis >= 0),
     alloc_memory_mb integer NOT NULL DEFAULT 0 CHECK (alloc_memory_mb >= 0),
     alloc_sandboxes integer NOT NULL DEFAULT 0 CHECK (alloc_sandboxes >= 0),
     usage jsonb NOT NULL DEFAULT '{}',
     layers text[] NOT NULL DEFAULT '{}',
     created_at timestamptz NOT NULL DEFAULT now(),
     registered_at timestamptz,
     heartbeat_at timestamptz,
     lease_expires_at timestamptz,
     lost_at timestamptz);
   CREATE INDEX nodes_layers ON nodes USING gin (layers);
   CREATE INDEX nodes_ready ON nodes (lease_expires_at) WHERE state = 'ready';
   CREATE TABLE placements (
     sandbox_id text PRIMARY KEY,
     node text COLLATE "C" NOT NULL REFERENCES nodes(name),
     project text NOT NULL,
     cpu_millis integer NOT NULL,
     memory_mb integer NOT NULL,
     placed_at timestamptz NOT NULL DEFAULT now());
   CREATE INDEX placements_by_project ON placements (project);
   CREATE INDEX placements_by_node ON placements (node);
   CREATE TABLE project_quotas (
     project text PRIMARY KEY,
     max_sandboxes integer,
     max_cpu_millis integer,
     max_memory_mb integer);`,
  // Routing: a sandbox is called by id or by name, and a name is unique in its project across the cluster.
  `ALTER TABLE placements ADD COLUMN name text COLLATE "C";
   CREATE UNIQUE INDEX placements_by_name ON placements (project, name) WHERE name IS NOT NULL;`,
  // One placement decision is one call (one round trip, one transaction): see placement.ts.
  `CREATE INDEX placements_usage ON placements (project) INCLUDE (cpu_millis, memory_mb);
   DROP INDEX placements_by_project;
   ALTER TABLE nodes ADD COLUMN rkey float8 NOT NULL DEFAULT random();
   CREATE INDEX nodes_ready_rkey ON nodes (rkey) WHERE state = 'ready';
   ${PLACE_FUNCTION}`,
  // A node that comes back reconciles (given-up.ts): what the control plane gave up, and why; a
  // placement keeps what its node answered at create, to answer a terminate while the node is lost.
  // Control replicas hold leases, so a replica fails only dead replicas' builds (replica-lease.ts).
  `ALTER TABLE placements ADD COLUMN info jsonb;
   CREATE TABLE given_up (
     sandbox_id text PRIMARY KEY,
     node text COLLATE "C" NOT NULL,
     project text NOT NULL,
     name text COLLATE "C",
     info jsonb,
     reason text NOT NULL,
     given_up_at timestamptz NOT NULL DEFAULT now(),
     destroyed_at timestamptz);
   CREATE INDEX given_up_by_node ON given_up (node) WHERE destroyed_at IS NULL;
   CREATE INDEX given_up_by_project ON given_up (project, sandbox_id);
   CREATE TABLE control_replicas (
     id text PRIMARY KEY,
     started_at timestamptz NOT NULL DEFAULT now(),
     lease_expires_at timestamptz NOT NULL);`,
  // A decision reads the project's usage from counters instead of summing its placements.
  `${QUOTA_USAGE}
   ${PLACE_FUNCTION}`,
  // A key per node for control → node calls (node-key.ts): the salt it is derived with, drawn at
  // `node add`; the address of the node's port proxy, where the control plane relays exposed ports.
  `ALTER TABLE nodes ADD COLUMN key_salt text NOT NULL DEFAULT md5(random()::text || clock_timestamp()::text);
   ALTER TABLE nodes ADD COLUMN proxy_address text;`,
  // Moving named sandboxes between nodes (sandbox-moves.ts): a suspended sandbox the control plane
  // can start elsewhere from its suspend snapshot, and the steps of a move in flight. A sandbox may
  // be given up on several nodes over its life (moved away from each), so given_up is keyed by both.
  `CREATE TABLE sandbox_moves (
     sandbox_id text PRIMARY KEY,
     project text NOT NULL,
     name text COLLATE "C" NOT NULL,
     from_node text COLLATE "C" NOT NULL,
     to_node text COLLATE "C",
     state text NOT NULL CHECK (state IN ('suspending', 'suspended', 'moving', 'placed')),
     why text NOT NULL,
     spec jsonb,
     snapshot_id text,
     manifest text CHECK (manifest ~ '^sha256:[0-9a-f]{64}$'),
     info jsonb,
     cpu_millis integer,
     memory_mb integer,
     updated_at timestamptz NOT NULL DEFAULT now());
   CREATE INDEX sandbox_moves_from ON sandbox_moves (from_node);
   ALTER TABLE given_up DROP CONSTRAINT given_up_pkey;
   ALTER TABLE given_up ADD PRIMARY KEY (sandbox_id, node);`,
  // The node daemon that holds each node's registration (node-instance.ts): one daemon per credential.
  `ALTER TABLE nodes ADD COLUMN instance text;`,
  // A suspended sandbox keeps its placement (routing, the room to take again at resume) but holds no
  // room on its node (suspended-room.ts). Placements already suspended are flagged by their node's next report.
  `ALTER TABLE placements ADD COLUMN suspended boolean NOT NULL DEFAULT false;`,
  // A placement names the control replica that placed it, so a create whose replica died mid-way is
  // swept once that replica's lease ran out (orphan-creates.ts). Rows placed before have none (null):
  // the sweep tells those by the replicas live when they were placed. sbx_place takes the owner as a
  // ninth argument, so the eight-argument one goes (absent in a database created at this version).
  `ALTER TABLE placements ADD COLUMN placed_by text;
   CREATE INDEX placements_pending ON placements (placed_by) WHERE sandbox_id LIKE 'pending-%';
   DROP FUNCTION IF EXISTS sbx_place(text, text, text, integer, integer, text[], jsonb, integer);
   ${PLACE_FUNCTION}`,
];

/** Brings the cluster tables of `schema` up to date (the store's own migrations run separately). */
export function migrateCluster(pool: Pool, schema: string): Promise<number> {
  return migrate(pool, schema, CLUSTER_MIGRATIONS, "cluster_migrations");
}
