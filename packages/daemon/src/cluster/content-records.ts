// The control plane's record of cluster content: snapshot id → project, kind and manifest digest in
// the registry, written when the node that took the snapshot answers that it is committed (after
// its push). Kept in PostgreSQL rather than as registry tags because (1) a record belongs to a
// project, and a restore must check that before any node pulls a byte; (2) a tag can be re-pointed
// by anyone with push access, a digest cannot, so nodes pull exactly what was committed; (3) it is
// read in the same database as placement, with no registry round trip on the create path. Own
// migration table (cluster_content_migrations), so it versions apart from the other cluster tables.
import type { Pool } from "pg";
import { SbxError } from "@sbx-sh/protocol";
import { migrate } from "../store/postgres-schema.js";

const MIGRATIONS = [
  `CREATE TABLE cluster_content (
     id text PRIMARY KEY,
     kind text NOT NULL CHECK (kind IN ('snapshot')),
     project text NOT NULL,
     manifest text NOT NULL CHECK (manifest ~ '^sha256:[0-9a-f]{64}$'),
     node text,
     created_at timestamptz NOT NULL DEFAULT now());
   CREATE INDEX cluster_content_by_project ON cluster_content (project);`,
  // Images built on a node (content-image.ts): keyed by the image's ref, its registration's own id.
  `ALTER TABLE cluster_content DROP CONSTRAINT cluster_content_kind_check;
   ALTER TABLE cluster_content ADD CONSTRAINT cluster_content_kind_check CHECK (kind IN ('snapshot', 'image'));`,
];

export interface ContentRecord {
  id: string;
  kind: "snapshot" | "image";
  project: string;
  manifest: string;
  node: string | null;
}

export class ContentRecords {
  constructor(private readonly pool: Pool) {}

  static async open(pool: Pool, schema: string): Promise<ContentRecords> {
    await migrate(pool, schema, MIGRATIONS, "cluster_content_migrations");
    return new ContentRecords(pool);
  }

  /** Records (or re-points) content of `r.project`; an id another project holds is refused, not taken over. */
  async put(r: ContentRecord): Promise<void> {
    const { rowCount } = await this.pool.query(
      `INSERT INTO cluster_content (id, kind, project, manifest, node) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (id) DO UPDATE SET manifest = EXCLUDED.manifest, node = EXCLUDED.node
       WHERE cluster_content.project = EXCLUDED.project AND cluster_content.kind = EXCLUDED.kind`,
      [r.id, r.kind, r.project, r.manifest, r.node],
    );
    if (rowCount === 0)
      throw new SbxError("already_exists", `content ${r.id} is recorded for another project: not recorded again`);
  }

  /** The project's snapshot `id`; not_found otherwise (another project's is not told apart from none). */
  async snapshot(project: string, id: string): Promise<ContentRecord> {
    const { rows } = await this.pool.query<ContentRecord>(
      "SELECT id, kind, project, manifest, node FROM cluster_content WHERE id = $1 AND project = $2 AND kind = 'snapshot'",
      [id, project],
    );
    if (!rows[0])
      throw new SbxError(
        "not_found",
        `snapshot ${id} does not exist in project ${project}, or was not stored in the cluster registry`,
      );
    return rows[0];
  }

  /** The project's image content recorded under its ref, or undefined (an image built before the registry). */
  async image(project: string, ref: string): Promise<ContentRecord | undefined> {
    const { rows } = await this.pool.query<ContentRecord>(
      "SELECT id, kind, project, manifest, node FROM cluster_content WHERE id = $1 AND project = $2 AND kind = 'image'",
      [ref, project],
    );
    return rows[0];
  }
}
