// Snapshots as the control plane lists and deletes them (with --registry): from PostgreSQL's content
// records (content-records.ts: snapshot id → project, manifest digest, node), project-scoped, never
// from the control host's own store (which holds none). What a snapshot looked like when its node
// committed it (the node's answer, checked field by field) is kept beside the record in its own
// table (own migration table, so it versions apart), for `sbx snapshot ls`. A delete removes both
// rows in one transaction, then the manifest from the registry (if the registry allows deletes);
// sandboxes made from it keep running: their layers are on their nodes, and blobs stay in the
// registry (they are shared, and registry garbage collection is the operator's).
import type { Pool } from "pg";
import { SbxError, type SnapshotInfo } from "@sbx-sh/protocol";
import { inTransaction } from "../store/postgres-runner.js";
import { migrate } from "../store/postgres-schema.js";
import { CONTENT_REPOSITORY } from "./content-registry.js";
import type { ClusterRegistry } from "./registry-access.js";

const MIGRATIONS = [
  `CREATE TABLE cluster_snapshot_info (
     id text PRIMARY KEY,
     project text NOT NULL,
     info jsonb NOT NULL);`,
];

/** A node's answer to a snapshot, reduced to SnapshotInfo's fields with their types (anything else dropped). */
export function snapshotInfoOf(raw: unknown, id: string, project: string): SnapshotInfo {
  const x = (typeof raw === "object" && raw !== null ? raw : {}) as Record<string, unknown>;
  const str = (v: unknown, d = ""): string => (typeof v === "string" && v.length <= 512 ? v : d);
  const num = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : 0);
  const orNull = (v: unknown): string | null => (typeof v === "string" && v.length <= 4096 ? v : null);
  return {
    id,
    project,
    type: x.type === "memory" ? "memory" : "filesystem",
    status: "completed",
    sourceSandboxId: str(x.sourceSandboxId),
    sourceImage: str(x.sourceImage),
    sourceImageId: str(x.sourceImageId),
    parentSnapshotId: orNull(x.parentSnapshotId),
    layers: num(x.layers),
    sizeBytes: num(x.sizeBytes),
    error: null,
    createdAt: str(x.createdAt, new Date().toISOString()),
    completedAt: orNull(x.completedAt),
  };
}

interface Row {
  id: string;
  project: string;
  created_at: Date;
  info: SnapshotInfo | null;
}

const toInfo = (r: Row): SnapshotInfo =>
  r.info ?? snapshotInfoOf({ createdAt: r.created_at.toISOString() }, r.id, r.project);

export class SnapshotCatalog {
  constructor(
    private readonly pool: Pool,
    private readonly registry: ClusterRegistry,
  ) {}

  static async open(pool: Pool, schema: string, registry: ClusterRegistry): Promise<SnapshotCatalog> {
    await migrate(pool, schema, MIGRATIONS, "cluster_snapshot_migrations");
    return new SnapshotCatalog(pool, registry);
  }

  /** Keeps what the node answered for a snapshot the control plane recorded (else nothing). */
  async keep(project: string, answer: unknown): Promise<void> {
    const id = (answer as { id?: unknown } | null)?.id;
    if (typeof id !== "string") return;
    await this.pool.query(
      `INSERT INTO cluster_snapshot_info (id, project, info)
       SELECT id, project, $3 FROM cluster_content WHERE id = $1 AND project = $2 AND kind = 'snapshot'
       ON CONFLICT (id) DO NOTHING`,
      [id, project, JSON.stringify(snapshotInfoOf(answer, id, project))],
    );
  }

  /** The project's snapshots in the cluster registry, newest first. */
  async list(project: string): Promise<SnapshotInfo[]> {
    const { rows } = await this.pool.query<Row>(
      `SELECT c.id, c.project, c.created_at, i.info FROM cluster_content c
       LEFT JOIN cluster_snapshot_info i ON i.id = c.id AND i.project = c.project
       WHERE c.project = $1 AND c.kind = 'snapshot' ORDER BY c.created_at DESC, c.id`,
      [project],
    );
    return rows.map(toInfo);
  }

  async get(project: string, id: string): Promise<SnapshotInfo> {
    const { rows } = await this.pool.query<Row>(
      `SELECT c.id, c.project, c.created_at, i.info FROM cluster_content c
       LEFT JOIN cluster_snapshot_info i ON i.id = c.id AND i.project = c.project
       WHERE c.id = $1 AND c.project = $2 AND c.kind = 'snapshot'`,
      [id, project],
    );
    if (!rows[0]) throw notFound(project, id);
    return toInfo(rows[0]);
  }

  /**
   * Deletes the project's snapshot: its records in one transaction, then its manifest in the
   * registry. A registry that refuses deletes (the default of Debian's docker-registry) keeps the
   * manifest, unreachable: nothing restores from it without the record. Answers the snapshot and
   * the node that took it (which may drop its own copy).
   */
  async remove(project: string, id: string): Promise<{ info: SnapshotInfo; node: string | null }> {
    const info = await this.get(project, id);
    const gone = await inTransaction(this.pool, async (c) => {
      await c.query("DELETE FROM cluster_snapshot_info WHERE id = $1 AND project = $2", [id, project]);
      return (
        await c.query<{ manifest: string; node: string | null }>(
          "DELETE FROM cluster_content WHERE id = $1 AND project = $2 AND kind = 'snapshot' RETURNING manifest, node",
          [id, project],
        )
      )[0];
    });
    if (!gone) throw notFound(project, id);
    await this.registry
      .client(null, gone.manifest)
      .then((client) => client.request("DELETE", `/v2/${CONTENT_REPOSITORY}/manifests/${gone.manifest}`))
      .then((res) => res.body?.cancel())
      .catch(() => undefined);
    return { info, node: gone.node };
  }
}

const notFound = (project: string, id: string): SbxError =>
  new SbxError(
    "not_found",
    `snapshot ${id} does not exist in project ${project}, or was not stored in the cluster registry`,
  );
