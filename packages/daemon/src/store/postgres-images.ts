// The PostgreSQL side of ImageOps: builds, the step cache, registered images and snapshots, over a
// PgRunner. Statements mirror sqlite-image-store.ts; timestamps the store sets itself (an image's
// deletion) come from the database's clock.
import { SbxError } from "@sbx-sh/protocol";
import { patchArgs, uniqueViolation } from "./postgres-meta.js";
import type { PgRunner } from "./postgres-runner.js";
import { ISO_NOW } from "./postgres-schema.js";
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

interface DocRow<T> {
  doc: T;
}

export class PgImageOps implements ImageOps {
  constructor(private readonly q: PgRunner) {}

  private async docs<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    return (await this.q.query<DocRow<T>>(sql, params)).map((r) => r.doc);
  }
  private async doc<T>(sql: string, params: unknown[]): Promise<T | undefined> {
    return (await this.docs<T>(sql, params))[0];
  }
  private async patch(table: string, id: string, patch: object): Promise<void> {
    const [json, dropped] = patchArgs(patch);
    await this.q.execute(`UPDATE ${table} SET doc = (doc || $2::jsonb) - $3::text[] WHERE id = $1`, [
      id,
      json,
      dropped,
    ]);
  }

  async insertBuild(b: BuildRecord): Promise<void> {
    await this.q.execute("INSERT INTO builds (id, doc) VALUES ($1, $2)", [b.id, JSON.stringify(b)]);
  }

  updateBuild(id: string, patch: Partial<Omit<BuildRecord, "id" | "project">>): Promise<void> {
    return this.patch("builds", id, patch);
  }

  getBuild(id: string): Promise<BuildRecord | undefined> {
    return this.doc<BuildRecord>("SELECT doc FROM builds WHERE id = $1", [id]);
  }

  listBuilds(project: string): Promise<BuildRecord[]> {
    return this.docs<BuildRecord>("SELECT doc FROM builds WHERE project = $1 ORDER BY created_at DESC", [project]);
  }

  listBuildsInState(states: BuildState[]): Promise<BuildRecord[]> {
    return this.docs<BuildRecord>("SELECT doc FROM builds WHERE state = ANY($1::text[])", [states]);
  }

  async insertTemplateBuild(b: TemplateBuildRecord): Promise<void> {
    await this.q.execute("INSERT INTO template_builds (id, doc) VALUES ($1, $2)", [b.id, JSON.stringify(b)]);
  }

  updateTemplateBuild(id: string, patch: Partial<Omit<TemplateBuildRecord, "id" | "project">>): Promise<void> {
    return this.patch("template_builds", id, patch);
  }

  getTemplateBuild(id: string): Promise<TemplateBuildRecord | undefined> {
    return this.doc<TemplateBuildRecord>("SELECT doc FROM template_builds WHERE id = $1", [id]);
  }

  listTemplateBuildsInState(states: TemplateBuildState[]): Promise<TemplateBuildRecord[]> {
    return this.docs<TemplateBuildRecord>(
      "SELECT doc FROM template_builds WHERE state = ANY($1::text[]) ORDER BY created_at",
      [states],
    );
  }

  getLayer(key: string): Promise<LayerRecord | undefined> {
    return this.doc<LayerRecord>("SELECT doc FROM layers WHERE key = $1", [key]);
  }

  async putLayer(l: LayerRecord): Promise<void> {
    await this.q.execute(
      "INSERT INTO layers (key, doc) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET doc = EXCLUDED.doc",
      [l.key, JSON.stringify(l)],
    );
  }

  async deleteLayer(key: string): Promise<void> {
    // One statement: the pointers and the row go together.
    await this.q.execute(
      "WITH pointers AS (DELETE FROM step_cache WHERE layer_key = $1) DELETE FROM layers WHERE key = $1",
      [key],
    );
  }

  listLayers(): Promise<LayerRecord[]> {
    return this.docs<LayerRecord>("SELECT doc FROM layers ORDER BY created_at");
  }

  getStepLayer(stepKey: string): Promise<LayerRecord | undefined> {
    return this.doc<LayerRecord>(
      "SELECT doc FROM layers WHERE key = COALESCE((SELECT layer_key FROM step_cache WHERE step_key = $1), $1)",
      [stepKey],
    );
  }

  async pointStep(stepKey: string, layerKey: string): Promise<void> {
    if (layerKey === stepKey) await this.q.execute("DELETE FROM step_cache WHERE step_key = $1", [stepKey]);
    else
      await this.q.execute(
        "INSERT INTO step_cache (step_key, layer_key) VALUES ($1, $2) ON CONFLICT (step_key) DO UPDATE SET layer_key = EXCLUDED.layer_key",
        [stepKey, layerKey],
      );
  }

  async registerImage(img: ImageRecord, replace: boolean): Promise<void> {
    const taken = (): SbxError =>
      new SbxError(
        "already_exists",
        `image ${img.name}:${img.tag} already exists in project ${img.project}: pass --replace to point the name at the new image`,
      );
    try {
      await this.q.atomic(async (q) => {
        const existing = await new PgImageOps(q).findImage(img.project, img.name, img.tag);
        if (existing && !replace) throw taken();
        if (existing) await new PgImageOps(q).markImageDeleted(existing.ref);
        await q.execute("INSERT INTO images (ref, doc) VALUES ($1, $2)", [
          img.ref,
          JSON.stringify({ ...img, deletedAt: null }),
        ]);
      });
    } catch (err) {
      // A concurrent registration of the same name won the race past our check.
      if (uniqueViolation(err) === "images_live_name") throw taken();
      throw err;
    }
  }

  findImage(project: string, name: string, tag: string): Promise<ImageRecord | undefined> {
    return this.doc<ImageRecord>(
      "SELECT doc FROM images WHERE project = $1 AND name = $2 AND tag = $3 AND deleted_at IS NULL",
      [project, name, tag],
    );
  }

  listImages(project: string): Promise<ImageRecord[]> {
    return this.docs<ImageRecord>(
      "SELECT doc FROM images WHERE project = $1 AND deleted_at IS NULL ORDER BY name, tag",
      [project],
    );
  }

  listAllImages(): Promise<ImageRecord[]> {
    return this.docs<ImageRecord>("SELECT doc FROM images ORDER BY created_at");
  }

  async markImageDeleted(ref: string): Promise<void> {
    await this.q.execute(`UPDATE images SET doc = jsonb_set(doc, '{deletedAt}', to_jsonb(${ISO_NOW})) WHERE ref = $1`, [
      ref,
    ]);
  }

  async deleteImage(ref: string): Promise<void> {
    await this.q.execute("DELETE FROM images WHERE ref = $1", [ref]);
  }

  async insertSnapshot(s: SnapshotRecord): Promise<void> {
    await this.q.execute("INSERT INTO snapshots (id, doc) VALUES ($1, $2)", [s.id, JSON.stringify(s)]);
  }

  updateSnapshot(id: string, patch: Partial<Omit<SnapshotRecord, "id" | "project">>): Promise<void> {
    return this.patch("snapshots", id, patch);
  }

  getSnapshot(id: string): Promise<SnapshotRecord | undefined> {
    return this.doc<SnapshotRecord>("SELECT doc FROM snapshots WHERE id = $1", [id]);
  }

  listSnapshots(project?: string): Promise<SnapshotRecord[]> {
    return this.docs<SnapshotRecord>(
      "SELECT doc FROM snapshots WHERE ($1::text IS NULL OR project = $1) ORDER BY created_at DESC",
      [project ?? null],
    );
  }

  async deleteSnapshot(id: string): Promise<void> {
    await this.q.execute("DELETE FROM snapshots WHERE id = $1", [id]);
  }
}
