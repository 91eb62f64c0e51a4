// The PostgreSQL side of MetaOps: projects, tokens, sandboxes, processes and port exposures, over a
// PgRunner (the pool, or an open transaction). Statements mirror sqlite-store.ts; the constraint
// names map to the same coded errors.
import { SbxError } from "@sbx-sh/protocol";
import type { PgRunner } from "./postgres-runner.js";
import type { MetaOps } from "./store.js";
import type {
  PortExposureRecord,
  ProcessRecord,
  ProjectRecord,
  SandboxRecord,
  TokenRecord,
  VolumeRecord,
} from "../domain/records.js";

interface DocRow<T> {
  doc: T;
}

/** The patch as jsonb text plus the keys it sets to undefined, which the merged record drops (as JSON does). */
export function patchArgs(patch: object): [string, string[]] {
  const dropped = Object.entries(patch)
    .filter(([, v]) => v === undefined)
    .map(([k]) => k);
  return [JSON.stringify(patch), dropped];
}

/** A unique violation as PostgreSQL reports it: the constraint's name, or undefined for any other error. */
export function uniqueViolation(err: unknown): string | undefined {
  if (err instanceof Error && "code" in err && err.code === "23505")
    return String((err as { constraint?: string }).constraint ?? "");
  return undefined;
}

export class PgMetaOps implements MetaOps {
  constructor(private readonly q: PgRunner) {}

  private async docs<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    return (await this.q.query<DocRow<T>>(sql, params)).map((r) => r.doc);
  }
  private async doc<T>(sql: string, params: unknown[]): Promise<T | undefined> {
    return (await this.docs<T>(sql, params))[0];
  }

  listProjects(): Promise<ProjectRecord[]> {
    return this.q.query<ProjectRecord>(`SELECT name, created_at AS "createdAt" FROM projects ORDER BY name`);
  }

  async getProject(name: string): Promise<ProjectRecord | undefined> {
    const rows = await this.q.query<ProjectRecord>(
      `SELECT name, created_at AS "createdAt" FROM projects WHERE name = $1`,
      [name],
    );
    return rows[0];
  }

  async insertProject(p: ProjectRecord): Promise<void> {
    await this.unique(
      (q) => q.execute("INSERT INTO projects (name, created_at) VALUES ($1, $2)", [p.name, p.createdAt]),
      `project ${p.name} already exists`,
    );
  }

  async insertToken(t: TokenRecord): Promise<void> {
    await this.q.contain((q) =>
      q.execute("INSERT INTO tokens (id, project, hash, created_at) VALUES ($1, $2, $3, $4)", [
        t.id,
        t.project,
        t.hash,
        t.createdAt,
      ]),
    );
  }

  async findTokenByHash(hash: string): Promise<TokenRecord | undefined> {
    const rows = await this.q.query<TokenRecord>(
      `SELECT id, project, hash, created_at AS "createdAt" FROM tokens WHERE hash = $1`,
      [hash],
    );
    return rows[0];
  }

  listTokens(project: string): Promise<TokenRecord[]> {
    return this.q.query<TokenRecord>(
      `SELECT id, project, hash, created_at AS "createdAt" FROM tokens WHERE project = $1 ORDER BY created_at, id`,
      [project],
    );
  }

  async deleteToken(project: string, id: string): Promise<boolean> {
    return (await this.q.execute("DELETE FROM tokens WHERE project = $1 AND id = $2", [project, id])) > 0;
  }

  deleteProject(name: string): Promise<boolean> {
    return this.q.atomic(async (q) => {
      await q.execute("DELETE FROM tokens WHERE project = $1", [name]);
      return (await q.execute("DELETE FROM projects WHERE name = $1", [name])) > 0;
    });
  }

  async insertSandbox(s: SandboxRecord): Promise<void> {
    await this.unique(
      (q) => q.execute("INSERT INTO sandboxes (id, doc) VALUES ($1, $2)", [s.id, JSON.stringify(s)]),
      `a sandbox named ${JSON.stringify(s.name)} already exists in project ${s.project}: pick another name or remove it`,
    );
  }

  async updateSandbox(id: string, patch: Partial<Omit<SandboxRecord, "id" | "project">>): Promise<void> {
    const [json, dropped] = patchArgs(patch);
    await this.unique(
      (q) => q.execute("UPDATE sandboxes SET doc = (doc || $2::jsonb) - $3::text[] WHERE id = $1", [id, json, dropped]),
      `a sandbox named ${JSON.stringify(patch.name)} already exists in this project: pick another name`,
    );
  }

  getSandbox(id: string): Promise<SandboxRecord | undefined> {
    return this.doc<SandboxRecord>("SELECT doc FROM sandboxes WHERE id = $1", [id]);
  }

  async deleteSandbox(id: string): Promise<boolean> {
    // Processes and port exposures go with it (ON DELETE CASCADE).
    return (await this.q.execute("DELETE FROM sandboxes WHERE id = $1", [id])) > 0;
  }

  findSandboxByName(project: string, name: string): Promise<SandboxRecord | undefined> {
    return this.doc<SandboxRecord>(
      `SELECT doc FROM sandboxes WHERE project = $1 AND name = $2
       ORDER BY (status = 'terminated'), created_at DESC LIMIT 1`,
      [project, name],
    );
  }

  listSandboxes(filter: { project?: string; includeTerminated?: boolean }): Promise<SandboxRecord[]> {
    return this.docs<SandboxRecord>(
      `SELECT doc FROM sandboxes WHERE ($1::text IS NULL OR project = $1) AND ($2 OR status <> 'terminated')
       ORDER BY created_at DESC`,
      [filter.project ?? null, filter.includeTerminated === true],
    );
  }

  async usedNetSlots(): Promise<Set<number>> {
    const rows = await this.q.query<{ s: number }>(
      "SELECT net_slot AS s FROM sandboxes WHERE net_slot IS NOT NULL AND status <> 'terminated'",
    );
    return new Set(rows.map((r) => r.s));
  }

  async allocateNetSlot(capacity: number, reserved: ReadonlySet<number> = new Set()): Promise<number> {
    // In a transaction the lock holds until it ends, so a concurrent allocator waits until our
    // sandbox row is visible and picks another slot.
    await this.q.query("SELECT pg_advisory_xact_lock(hashtext('sbx-net-slots'))");
    const rows = await this.q.query<{ s: number }>(
      `SELECT s FROM generate_series(0, $1::integer - 1) AS s
       WHERE s <> ALL($2::integer[])
         AND NOT EXISTS (SELECT 1 FROM sandboxes WHERE net_slot = s AND status <> 'terminated')
       ORDER BY s LIMIT 1`,
      [capacity, [...reserved]],
    );
    if (rows[0]) return rows[0].s;
    throw new SbxError(
      "failed_precondition",
      `No free sandbox network slot: all ${capacity} are in use. Stop sandboxes that have network access, or configure a larger subnet.`,
    );
  }

  async insertProcess(p: ProcessRecord): Promise<void> {
    await this.q.execute("INSERT INTO processes (id, sandbox_id, doc) VALUES ($1, $2, $3)", [
      p.id,
      p.sandboxId,
      JSON.stringify(p),
    ]);
  }

  async updateProcess(id: string, patch: Partial<Omit<ProcessRecord, "id" | "sandboxId">>): Promise<void> {
    const [json, dropped] = patchArgs(patch);
    await this.q.execute("UPDATE processes SET doc = (doc || $2::jsonb) - $3::text[] WHERE id = $1", [
      id,
      json,
      dropped,
    ]);
  }

  getProcess(sandboxId: string, id: string): Promise<ProcessRecord | undefined> {
    return this.doc<ProcessRecord>("SELECT doc FROM processes WHERE id = $1 AND sandbox_id = $2", [id, sandboxId]);
  }

  listProcesses(sandboxId: string): Promise<ProcessRecord[]> {
    return this.docs<ProcessRecord>("SELECT doc FROM processes WHERE sandbox_id = $1 ORDER BY started_at", [sandboxId]);
  }

  listRunningProcesses(): Promise<ProcessRecord[]> {
    return this.docs<ProcessRecord>("SELECT doc FROM processes WHERE status = 'running'");
  }

  async exitedProcessesBeyond(sandboxId: string, keep: number): Promise<string[]> {
    const rows = await this.q.query<{ id: string }>(
      `SELECT id FROM (SELECT id, status, started_at FROM processes WHERE sandbox_id = $1
         ORDER BY started_at DESC, id DESC OFFSET $2) p
       WHERE status = 'exited' ORDER BY started_at, id`,
      [sandboxId, keep],
    );
    return rows.map((r) => r.id);
  }

  deleteProcesses(sandboxId: string, ids: string[]): Promise<number> {
    return this.q.execute("DELETE FROM processes WHERE sandbox_id = $1 AND id = ANY($2::text[])", [sandboxId, ids]);
  }

  async putPortExposure(e: PortExposureRecord): Promise<void> {
    await this.q.execute(
      `INSERT INTO port_exposures (sandbox_id, port, doc) VALUES ($1, $2, $3)
       ON CONFLICT (sandbox_id, port) DO UPDATE SET doc = EXCLUDED.doc`,
      [e.sandboxId, e.port, JSON.stringify(e)],
    );
  }

  getPortExposure(sandboxId: string, port: number): Promise<PortExposureRecord | undefined> {
    return this.doc<PortExposureRecord>("SELECT doc FROM port_exposures WHERE sandbox_id = $1 AND port = $2", [
      sandboxId,
      port,
    ]);
  }

  listPortExposures(sandboxId?: string): Promise<PortExposureRecord[]> {
    return this.docs<PortExposureRecord>(
      "SELECT doc FROM port_exposures WHERE ($1::text IS NULL OR sandbox_id = $1) ORDER BY sandbox_id, port",
      [sandboxId ?? null],
    );
  }

  async deletePortExposure(sandboxId: string, port?: number): Promise<boolean> {
    const n = await this.q.execute(
      "DELETE FROM port_exposures WHERE sandbox_id = $1 AND ($2::integer IS NULL OR port = $2)",
      [sandboxId, port ?? null],
    );
    return n > 0;
  }

  async insertVolume(v: VolumeRecord): Promise<void> {
    await this.unique(
      (q) => q.execute("INSERT INTO volumes (id, doc) VALUES ($1, $2)", [v.id, JSON.stringify(v)]),
      `a volume named ${JSON.stringify(v.name)} already exists in project ${v.project}: pick another name or remove it`,
    );
  }

  getVolume(project: string, name: string): Promise<VolumeRecord | undefined> {
    // FOR UPDATE: in a transaction, two creates that mount the same volume (or a create and a
    // remove) are serialized, so each sees the other's committed sandbox before it decides.
    return this.doc<VolumeRecord>("SELECT doc FROM volumes WHERE project = $1 AND name = $2 FOR UPDATE", [
      project,
      name,
    ]);
  }

  listVolumes(project?: string): Promise<VolumeRecord[]> {
    return project === undefined
      ? this.docs<VolumeRecord>("SELECT doc FROM volumes ORDER BY project, name")
      : this.docs<VolumeRecord>("SELECT doc FROM volumes WHERE project = $1 ORDER BY name", [project]);
  }

  async deleteVolume(id: string): Promise<boolean> {
    return (await this.q.execute("DELETE FROM volumes WHERE id = $1", [id])) > 0;
  }

  /** Runs a write whose unique indexes guard a user-visible name, mapping a violation to a coded error. */
  private async unique(fn: (q: PgRunner) => Promise<unknown>, message: string): Promise<void> {
    try {
      await this.q.contain(fn);
    } catch (err) {
      const constraint = uniqueViolation(err);
      if (constraint === undefined) throw err;
      // The slot index is ours to keep unique, not the user's: say which resource ran out.
      if (constraint === "sandboxes_live_slot")
        throw new SbxError(
          "failed_precondition",
          "the network slot chosen for this sandbox is taken: retry the request",
        );
      throw new SbxError("already_exists", message);
    }
  }
}
