// Where each image build of the cluster runs, as the control plane placed it (table cluster_builds):
// build id → project, node, and the image name and tag the caller asked for. The control plane
// draws the build's id itself and records it before the node sees the build, so (1) every later
// call on the build (get, events, cancel) is routed to its node, and (2) when the node reports the
// image committed (POST /cluster/v1/images), the project and name come from this row, never from
// the node: a node cannot move an image into another project or rename it. Own migration table
// (cluster_builds_migrations), so it versions apart from the other cluster tables.
import type { Pool } from "pg";
import { SbxError } from "@sbx-sh/protocol";
import { migrate } from "../store/postgres-schema.js";
import type { SandboxLocation } from "./sandbox-directory.js";

const MIGRATIONS = [
  `CREATE TABLE cluster_builds (
     id text PRIMARY KEY,
     project text NOT NULL,
     node text NOT NULL,
     image_name text NOT NULL,
     tag text NOT NULL,
     replace boolean NOT NULL,
     image_ref text,
     created_at timestamptz NOT NULL DEFAULT now());
   CREATE INDEX cluster_builds_by_project ON cluster_builds (project, created_at);`,
];

export interface BuildPlacement {
  id: string;
  project: string;
  node: string;
  imageName: string;
  tag: string;
  replace: boolean;
  imageRef: string | null;
}

interface Row {
  id: string;
  project: string;
  node: string;
  image_name: string;
  tag: string;
  replace: boolean;
  image_ref: string | null;
}

const toPlacement = (r: Row): BuildPlacement => ({
  id: r.id,
  project: r.project,
  node: r.node,
  imageName: r.image_name,
  tag: r.tag,
  replace: r.replace,
  imageRef: r.image_ref,
});

export class BuildDirectory {
  constructor(private readonly pool: Pool) {}

  static async open(pool: Pool, schema: string): Promise<BuildDirectory> {
    await migrate(pool, schema, MIGRATIONS, "cluster_builds_migrations");
    return new BuildDirectory(pool);
  }

  async add(b: Omit<BuildPlacement, "imageRef">): Promise<void> {
    await this.pool.query(
      "INSERT INTO cluster_builds (id, project, node, image_name, tag, replace) VALUES ($1, $2, $3, $4, $5, $6)",
      [b.id, b.project, b.node, b.imageName, b.tag, b.replace],
    );
  }

  async remove(id: string): Promise<void> {
    await this.pool.query("DELETE FROM cluster_builds WHERE id = $1", [id]);
  }

  /** The build as the node that runs it may report it; not_found for any other node (not told apart). */
  async ofNode(node: string, id: string): Promise<BuildPlacement> {
    const { rows } = await this.pool.query<Row>("SELECT * FROM cluster_builds WHERE id = $1 AND node = $2", [id, node]);
    if (!rows[0]) throw new SbxError("not_found", `build ${id} was not placed on node ${node}`);
    return toPlacement(rows[0]);
  }

  /** The image a build committed is recorded once: a second report of the same build is refused. */
  async committed(id: string, imageRef: string): Promise<void> {
    const { rowCount } = await this.pool.query(
      "UPDATE cluster_builds SET image_ref = $2 WHERE id = $1 AND image_ref IS NULL",
      [id, imageRef],
    );
    if (!rowCount) throw new SbxError("already_exists", `build ${id} already reported its image`);
  }

  /** The project's build `id` with its node's address and state, as a sandbox is located. */
  async locate(project: string, id: string): Promise<SandboxLocation> {
    const { rows } = await this.pool.query<{
      node: string;
      address: string | null;
      state: string;
      key_salt: string;
      lease_left: number | null;
    }>(
      `SELECT b.node, n.address, n.state, n.key_salt,
         extract(epoch FROM n.lease_expires_at - now())::float8 AS lease_left
       FROM cluster_builds b JOIN nodes n ON n.name = b.node WHERE b.project = $1 AND b.id = $2`,
      [project, id],
    );
    const r = rows[0];
    if (!r)
      throw new SbxError(
        "not_found",
        `build ${id} does not exist in project ${project}: list builds with \`sbx image builds\``,
      );
    const live = r.state !== "lost" && r.state !== "revoked" && r.lease_left !== null && r.lease_left > 0;
    return {
      sandboxId: id,
      name: null,
      node: r.node,
      address: r.address,
      unavailable: live ? null : `its node ${r.node} is ${r.state === "revoked" ? "revoked" : "lost"}`,
      keySalt: r.key_salt,
      proxyAddress: null,
    };
  }

  /** The nodes that ran the project's builds (for the list), with where to reach them. */
  async nodesOf(project: string): Promise<SandboxLocation[]> {
    const { rows } = await this.pool.query<{ id: string }>(
      "SELECT DISTINCT ON (node) id FROM cluster_builds WHERE project = $1 ORDER BY node, created_at DESC",
      [project],
    );
    return Promise.all(rows.map((r) => this.locate(project, r.id)));
  }
}
