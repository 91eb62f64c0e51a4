// The SQLite tables behind Store (MetaOps: projects, tokens, sandboxes, processes, port exposures,
// volumes), used synchronously on the database sqlite-database.ts opens; sqlite-stores.ts puts the
// async Store interface and transactions on top. Each record is kept whole as JSON in a `doc`
// column, with the fields we query on (project, name, status, slot) as real columns.
import type Database from "better-sqlite3";
import { SbxError } from "@sbx-sh/protocol";
import type { Sync } from "./sqlite-database.js";
import type { MetaOps } from "./store.js";
import type {
  PortExposureRecord,
  ProcessRecord,
  ProjectRecord,
  SandboxRecord,
  TokenRecord,
  VolumeRecord,
} from "../domain/records.js";

interface DocRow {
  doc: string;
}

export class SqliteMetaTables implements Sync<MetaOps> {
  constructor(private readonly db: Database.Database) {
    if (!this.getProject("default")) this.insertProject({ name: "default", createdAt: new Date().toISOString() });
  }

  listProjects(): ProjectRecord[] {
    return this.db.prepare("SELECT name, created_at AS createdAt FROM projects ORDER BY name").all() as ProjectRecord[];
  }

  getProject(name: string): ProjectRecord | undefined {
    return this.db.prepare("SELECT name, created_at AS createdAt FROM projects WHERE name = ?").get(name) as
      ProjectRecord | undefined;
  }

  insertProject(p: ProjectRecord): void {
    this.unique(
      () => this.db.prepare("INSERT INTO projects (name, created_at) VALUES (?, ?)").run(p.name, p.createdAt),
      `project ${p.name} already exists`,
    );
  }

  insertToken(t: TokenRecord): void {
    this.db
      .prepare("INSERT INTO tokens (id, project, hash, created_at) VALUES (?, ?, ?, ?)")
      .run(t.id, t.project, t.hash, t.createdAt);
  }

  findTokenByHash(hash: string): TokenRecord | undefined {
    return this.db.prepare("SELECT id, project, hash, created_at AS createdAt FROM tokens WHERE hash = ?").get(hash) as
      TokenRecord | undefined;
  }

  listTokens(project: string): TokenRecord[] {
    return this.db
      .prepare(
        "SELECT id, project, hash, created_at AS createdAt FROM tokens WHERE project = ? ORDER BY created_at, id",
      )
      .all(project) as TokenRecord[];
  }

  deleteToken(project: string, id: string): boolean {
    return this.db.prepare("DELETE FROM tokens WHERE project = ? AND id = ?").run(project, id).changes > 0;
  }

  deleteProject(name: string): boolean {
    return this.db.transaction(() => {
      this.db.prepare("DELETE FROM tokens WHERE project = ?").run(name);
      return this.db.prepare("DELETE FROM projects WHERE name = ?").run(name).changes > 0;
    })();
  }

  insertSandbox(s: SandboxRecord): void {
    this.unique(
      () =>
        this.db
          .prepare(
            "INSERT INTO sandboxes (id, project, name, status, net_slot, created_at, doc) VALUES (?, ?, ?, ?, ?, ?, ?)",
          )
          .run(s.id, s.project, s.name, s.status, s.netSlot, s.createdAt, JSON.stringify(s)),
      `a sandbox named ${JSON.stringify(s.name)} already exists in project ${s.project}: pick another name or remove it`,
    );
  }

  updateSandbox(id: string, patch: Partial<Omit<SandboxRecord, "id" | "project">>): void {
    this.db.transaction(() => {
      const current = this.getSandbox(id);
      if (!current) return;
      const next = { ...current, ...patch };
      this.db
        .prepare("UPDATE sandboxes SET name = ?, status = ?, net_slot = ?, doc = ? WHERE id = ?")
        .run(next.name, next.status, next.netSlot, JSON.stringify(next), id);
    })();
  }

  getSandbox(id: string): SandboxRecord | undefined {
    const row = this.db.prepare("SELECT doc FROM sandboxes WHERE id = ?").get(id) as DocRow | undefined;
    return row ? (JSON.parse(row.doc) as SandboxRecord) : undefined;
  }

  findSandboxByName(project: string, name: string): SandboxRecord | undefined {
    const row = this.db
      .prepare(
        "SELECT doc FROM sandboxes WHERE project = ? AND name = ? ORDER BY (status = 'terminated'), created_at DESC LIMIT 1",
      )
      .get(project, name) as DocRow | undefined;
    return row ? (JSON.parse(row.doc) as SandboxRecord) : undefined;
  }

  listSandboxes(filter: { project?: string; includeTerminated?: boolean }): SandboxRecord[] {
    const where: string[] = [];
    const args: string[] = [];
    if (filter.project !== undefined) {
      where.push("project = ?");
      args.push(filter.project);
    }
    if (!filter.includeTerminated) where.push("status != 'terminated'");
    const sql = `SELECT doc FROM sandboxes ${where.length ? "WHERE " + where.join(" AND ") : ""} ORDER BY created_at DESC`;
    return (this.db.prepare(sql).all(...args) as DocRow[]).map((r) => JSON.parse(r.doc) as SandboxRecord);
  }

  deleteSandbox(id: string): boolean {
    // Processes and port exposures go with it (ON DELETE CASCADE).
    return this.db.prepare("DELETE FROM sandboxes WHERE id = ?").run(id).changes > 0;
  }

  usedNetSlots(): Set<number> {
    const rows = this.db
      .prepare("SELECT net_slot AS s FROM sandboxes WHERE net_slot IS NOT NULL AND status != 'terminated'")
      .all() as { s: number }[];
    return new Set(rows.map((r) => r.s));
  }

  allocateNetSlot(capacity: number, reserved: ReadonlySet<number> = new Set()): number {
    const used = this.usedNetSlots();
    for (let slot = 0; slot < capacity; slot++) if (!used.has(slot) && !reserved.has(slot)) return slot;
    throw new SbxError(
      "failed_precondition",
      `No free sandbox network slot: all ${capacity} are in use. Stop sandboxes that have network access, or configure a larger subnet.`,
    );
  }

  insertProcess(p: ProcessRecord): void {
    this.db
      .prepare("INSERT INTO processes (id, sandbox_id, status, started_at, doc) VALUES (?, ?, ?, ?, ?)")
      .run(p.id, p.sandboxId, p.status, p.startedAt, JSON.stringify(p));
  }

  updateProcess(id: string, patch: Partial<Omit<ProcessRecord, "id" | "sandboxId">>): void {
    this.db.transaction(() => {
      const row = this.db.prepare("SELECT doc FROM processes WHERE id = ?").get(id) as DocRow | undefined;
      if (!row) return;
      const next = { ...(JSON.parse(row.doc) as ProcessRecord), ...patch };
      this.db
        .prepare("UPDATE processes SET status = ?, doc = ? WHERE id = ?")
        .run(next.status, JSON.stringify(next), id);
    })();
  }

  getProcess(sandboxId: string, id: string): ProcessRecord | undefined {
    const row = this.db.prepare("SELECT doc FROM processes WHERE id = ? AND sandbox_id = ?").get(id, sandboxId) as
      DocRow | undefined;
    return row ? (JSON.parse(row.doc) as ProcessRecord) : undefined;
  }

  listProcesses(sandboxId: string): ProcessRecord[] {
    return (
      this.db.prepare("SELECT doc FROM processes WHERE sandbox_id = ? ORDER BY started_at").all(sandboxId) as DocRow[]
    ).map((r) => JSON.parse(r.doc) as ProcessRecord);
  }

  listRunningProcesses(): ProcessRecord[] {
    return (this.db.prepare("SELECT doc FROM processes WHERE status = 'running'").all() as DocRow[]).map(
      (r) => JSON.parse(r.doc) as ProcessRecord,
    );
  }

  exitedProcessesBeyond(sandboxId: string, keep: number): string[] {
    const rows = this.db
      .prepare(
        `SELECT id FROM (SELECT id, status, started_at FROM processes WHERE sandbox_id = ?
           ORDER BY started_at DESC, id DESC LIMIT -1 OFFSET ?)
         WHERE status = 'exited' ORDER BY started_at, id`,
      )
      .all(sandboxId, keep) as { id: string }[];
    return rows.map((r) => r.id);
  }

  deleteProcesses(sandboxId: string, ids: string[]): number {
    // The ids as one JSON parameter: one statement text whatever their number (statement-cache.ts).
    return this.db
      .prepare("DELETE FROM processes WHERE sandbox_id = ? AND id IN (SELECT value FROM json_each(?))")
      .run(sandboxId, JSON.stringify(ids)).changes;
  }

  putPortExposure(e: PortExposureRecord): void {
    this.db
      .prepare("INSERT OR REPLACE INTO port_exposures (sandbox_id, port, doc) VALUES (?, ?, ?)")
      .run(e.sandboxId, e.port, JSON.stringify(e));
  }

  getPortExposure(sandboxId: string, port: number): PortExposureRecord | undefined {
    const row = this.db
      .prepare("SELECT doc FROM port_exposures WHERE sandbox_id = ? AND port = ?")
      .get(sandboxId, port) as DocRow | undefined;
    return row ? (JSON.parse(row.doc) as PortExposureRecord) : undefined;
  }

  listPortExposures(sandboxId?: string): PortExposureRecord[] {
    const rows =
      sandboxId === undefined
        ? this.db.prepare("SELECT doc FROM port_exposures ORDER BY sandbox_id, port").all()
        : this.db.prepare("SELECT doc FROM port_exposures WHERE sandbox_id = ? ORDER BY port").all(sandboxId);
    return (rows as DocRow[]).map((r) => JSON.parse(r.doc) as PortExposureRecord);
  }

  deletePortExposure(sandboxId: string, port?: number): boolean {
    const res =
      port === undefined
        ? this.db.prepare("DELETE FROM port_exposures WHERE sandbox_id = ?").run(sandboxId)
        : this.db.prepare("DELETE FROM port_exposures WHERE sandbox_id = ? AND port = ?").run(sandboxId, port);
    return res.changes > 0;
  }

  insertVolume(v: VolumeRecord): void {
    this.unique(
      () =>
        this.db
          .prepare("INSERT INTO volumes (id, project, name, doc) VALUES (?, ?, ?, ?)")
          .run(v.id, v.project, v.name, JSON.stringify(v)),
      `a volume named ${JSON.stringify(v.name)} already exists in project ${v.project}: pick another name or remove it`,
    );
  }

  getVolume(project: string, name: string): VolumeRecord | undefined {
    const row = this.db.prepare("SELECT doc FROM volumes WHERE project = ? AND name = ?").get(project, name) as
      DocRow | undefined;
    return row ? (JSON.parse(row.doc) as VolumeRecord) : undefined;
  }

  listVolumes(project?: string): VolumeRecord[] {
    const rows =
      project === undefined
        ? this.db.prepare("SELECT doc FROM volumes ORDER BY project, name").all()
        : this.db.prepare("SELECT doc FROM volumes WHERE project = ? ORDER BY name").all(project);
    return (rows as DocRow[]).map((r) => JSON.parse(r.doc) as VolumeRecord);
  }

  deleteVolume(id: string): boolean {
    return this.db.prepare("DELETE FROM volumes WHERE id = ?").run(id).changes > 0;
  }

  private unique(fn: () => unknown, message: string): void {
    try {
      fn();
    } catch (err) {
      if (!(err instanceof Error && "code" in err && String(err.code).startsWith("SQLITE_CONSTRAINT"))) throw err;
      // The slot index is ours to keep unique, not the user's: say which resource ran out.
      if (err.message.includes("net_slot"))
        throw new SbxError(
          "failed_precondition",
          "the network slot chosen for this sandbox is taken: retry the request",
        );
      throw new SbxError("already_exists", message);
    }
  }
}
