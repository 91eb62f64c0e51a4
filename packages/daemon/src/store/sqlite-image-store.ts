// The SQLite tables behind ImageStore: builds, the step cache, registered images and snapshots, in
// the same database file as the rest of the metadata (whole records as JSON, queried fields as
// columns). Synchronous; sqlite-stores.ts puts the async interface on top.
import type Database from "better-sqlite3";
import { SbxError } from "@sbx-sh/protocol";
import type { Sync } from "./sqlite-database.js";
import type { ImageOps } from "./store.js";
import type {
  BuildRecord,
  BuildState,
  ImageRecord,
  LayerRecord,
  SnapshotRecord,
  TemplateBuildRecord,
  TemplateBuildState,
} from "../domain/records.js";

export const IMAGE_MIGRATIONS = [
  `CREATE TABLE builds (id TEXT PRIMARY KEY, project TEXT NOT NULL, state TEXT NOT NULL, created_at TEXT NOT NULL, doc TEXT NOT NULL);
   CREATE INDEX builds_by_project ON builds(project, created_at);
   CREATE TABLE layers (key TEXT PRIMARY KEY, created_at TEXT NOT NULL, doc TEXT NOT NULL);
   CREATE TABLE images (ref TEXT PRIMARY KEY, id TEXT NOT NULL, project TEXT NOT NULL, name TEXT NOT NULL, tag TEXT NOT NULL,
     deleted_at TEXT, created_at TEXT NOT NULL, doc TEXT NOT NULL);
   CREATE UNIQUE INDEX images_live_name ON images(project, name, tag) WHERE deleted_at IS NULL;`,
  `CREATE TABLE snapshots (id TEXT PRIMARY KEY, project TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL, doc TEXT NOT NULL);
   CREATE INDEX snapshots_by_project ON snapshots(project, created_at);`,
];

/**
 * The step cache's pointers: a step whose newest build committed its layer under a key of its own
 * (its key's layer was still in use) names that layer here (ImageOps.pointStep). Applied last.
 */
export const STEP_CACHE_MIGRATION = `CREATE TABLE step_cache (step_key TEXT PRIMARY KEY, layer_key TEXT NOT NULL);
 CREATE INDEX step_cache_by_layer ON step_cache(layer_key);`;

/** Tensorlake template builds; applied after the other tables (sqlite-database.ts lists it after them). */
export const TEMPLATE_BUILDS_MIGRATION = `CREATE TABLE template_builds (id TEXT PRIMARY KEY, project TEXT NOT NULL,
   state TEXT NOT NULL, created_at TEXT NOT NULL, doc TEXT NOT NULL);
 CREATE INDEX template_builds_by_state ON template_builds(state);`;

interface DocRow {
  doc: string;
}

export class SqliteImageTables implements Sync<ImageOps> {
  constructor(private readonly db: Database.Database) {}

  private docs<T>(sql: string, ...args: unknown[]): T[] {
    return (this.db.prepare(sql).all(...args) as DocRow[]).map((r) => JSON.parse(r.doc) as T);
  }
  private doc<T>(sql: string, ...args: unknown[]): T | undefined {
    const row = this.db.prepare(sql).get(...args) as DocRow | undefined;
    return row ? (JSON.parse(row.doc) as T) : undefined;
  }

  insertBuild(b: BuildRecord): void {
    this.db
      .prepare("INSERT INTO builds (id, project, state, created_at, doc) VALUES (?, ?, ?, ?, ?)")
      .run(b.id, b.project, b.state, b.createdAt, JSON.stringify(b));
  }

  updateBuild(id: string, patch: Partial<Omit<BuildRecord, "id" | "project">>): void {
    this.db.transaction(() => {
      const cur = this.getBuild(id);
      if (!cur) return;
      const next = { ...cur, ...patch };
      this.db.prepare("UPDATE builds SET state = ?, doc = ? WHERE id = ?").run(next.state, JSON.stringify(next), id);
    })();
  }

  getBuild(id: string): BuildRecord | undefined {
    return this.doc<BuildRecord>("SELECT doc FROM builds WHERE id = ?", id);
  }

  listBuilds(project: string): BuildRecord[] {
    return this.docs<BuildRecord>("SELECT doc FROM builds WHERE project = ? ORDER BY created_at DESC", project);
  }

  listBuildsInState(states: BuildState[]): BuildRecord[] {
    return this.docs<BuildRecord>(
      `SELECT doc FROM builds WHERE state IN (${states.map(() => "?").join(",")})`,
      ...states,
    );
  }

  insertTemplateBuild(b: TemplateBuildRecord): void {
    this.db
      .prepare("INSERT INTO template_builds (id, project, state, created_at, doc) VALUES (?, ?, ?, ?, ?)")
      .run(b.id, b.project, b.state, b.createdAt, JSON.stringify(b));
  }

  updateTemplateBuild(id: string, patch: Partial<Omit<TemplateBuildRecord, "id" | "project">>): void {
    this.db.transaction(() => {
      const cur = this.getTemplateBuild(id);
      if (!cur) return;
      const next = { ...cur, ...patch };
      this.db
        .prepare("UPDATE template_builds SET state = ?, doc = ? WHERE id = ?")
        .run(next.state, JSON.stringify(next), id);
    })();
  }

  getTemplateBuild(id: string): TemplateBuildRecord | undefined {
    return this.doc<TemplateBuildRecord>("SELECT doc FROM template_builds WHERE id = ?", id);
  }

  listTemplateBuildsInState(states: TemplateBuildState[]): TemplateBuildRecord[] {
    return this.docs<TemplateBuildRecord>(
      `SELECT doc FROM template_builds WHERE state IN (${states.map(() => "?").join(",")}) ORDER BY created_at`,
      ...states,
    );
  }

  getLayer(key: string): LayerRecord | undefined {
    return this.doc<LayerRecord>("SELECT doc FROM layers WHERE key = ?", key);
  }

  putLayer(l: LayerRecord): void {
    this.db
      .prepare("INSERT OR REPLACE INTO layers (key, created_at, doc) VALUES (?, ?, ?)")
      .run(l.key, l.createdAt, JSON.stringify(l));
  }

  deleteLayer(key: string): void {
    this.db.transaction(() => {
      this.db.prepare("DELETE FROM step_cache WHERE layer_key = ?").run(key);
      this.db.prepare("DELETE FROM layers WHERE key = ?").run(key);
    })();
  }

  listLayers(): LayerRecord[] {
    return this.docs<LayerRecord>("SELECT doc FROM layers ORDER BY created_at");
  }

  getStepLayer(stepKey: string): LayerRecord | undefined {
    return this.doc<LayerRecord>(
      "SELECT doc FROM layers WHERE key = COALESCE((SELECT layer_key FROM step_cache WHERE step_key = ?), ?)",
      stepKey,
      stepKey,
    );
  }

  pointStep(stepKey: string, layerKey: string): void {
    if (layerKey === stepKey) this.db.prepare("DELETE FROM step_cache WHERE step_key = ?").run(stepKey);
    else
      this.db
        .prepare(
          "INSERT INTO step_cache (step_key, layer_key) VALUES (?, ?) ON CONFLICT (step_key) DO UPDATE SET layer_key = excluded.layer_key",
        )
        .run(stepKey, layerKey);
  }

  registerImage(img: ImageRecord, replace: boolean): void {
    this.db.transaction(() => {
      const existing = this.findImage(img.project, img.name, img.tag);
      if (existing && !replace) {
        throw new SbxError(
          "already_exists",
          `image ${img.name}:${img.tag} already exists in project ${img.project}: pass --replace to point the name at the new image`,
        );
      }
      if (existing) this.markImageDeleted(existing.ref);
      this.db
        .prepare(
          "INSERT INTO images (ref, id, project, name, tag, deleted_at, created_at, doc) VALUES (?, ?, ?, ?, ?, NULL, ?, ?)",
        )
        .run(img.ref, img.id, img.project, img.name, img.tag, img.createdAt, JSON.stringify(img));
    })();
  }

  findImage(project: string, name: string, tag: string): ImageRecord | undefined {
    return this.doc<ImageRecord>(
      "SELECT doc FROM images WHERE project = ? AND name = ? AND tag = ? AND deleted_at IS NULL",
      project,
      name,
      tag,
    );
  }

  listImages(project: string): ImageRecord[] {
    return this.docs<ImageRecord>(
      "SELECT doc FROM images WHERE project = ? AND deleted_at IS NULL ORDER BY name, tag",
      project,
    );
  }

  listAllImages(): ImageRecord[] {
    return this.docs<ImageRecord>("SELECT doc FROM images ORDER BY created_at");
  }

  markImageDeleted(ref: string): void {
    const cur = this.doc<ImageRecord>("SELECT doc FROM images WHERE ref = ?", ref);
    if (!cur) return;
    const next = { ...cur, deletedAt: new Date().toISOString() };
    this.db
      .prepare("UPDATE images SET deleted_at = ?, doc = ? WHERE ref = ?")
      .run(next.deletedAt, JSON.stringify(next), ref);
  }

  deleteImage(ref: string): void {
    this.db.prepare("DELETE FROM images WHERE ref = ?").run(ref);
  }

  insertSnapshot(s: SnapshotRecord): void {
    this.db
      .prepare("INSERT INTO snapshots (id, project, status, created_at, doc) VALUES (?, ?, ?, ?, ?)")
      .run(s.id, s.project, s.status, s.createdAt, JSON.stringify(s));
  }

  updateSnapshot(id: string, patch: Partial<Omit<SnapshotRecord, "id" | "project">>): void {
    this.db.transaction(() => {
      const cur = this.getSnapshot(id);
      if (!cur) return;
      const next = { ...cur, ...patch };
      this.db
        .prepare("UPDATE snapshots SET status = ?, doc = ? WHERE id = ?")
        .run(next.status, JSON.stringify(next), id);
    })();
  }

  getSnapshot(id: string): SnapshotRecord | undefined {
    return this.doc<SnapshotRecord>("SELECT doc FROM snapshots WHERE id = ?", id);
  }

  listSnapshots(project?: string): SnapshotRecord[] {
    return project === undefined
      ? this.docs<SnapshotRecord>("SELECT doc FROM snapshots ORDER BY created_at DESC")
      : this.docs<SnapshotRecord>("SELECT doc FROM snapshots WHERE project = ? ORDER BY created_at DESC", project);
  }

  deleteSnapshot(id: string): void {
    this.db.prepare("DELETE FROM snapshots WHERE id = ?").run(id);
  }
}
