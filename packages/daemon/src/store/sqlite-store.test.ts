// The SQLite stores: the conformance suites on a temp-file database, plus what only a file-backed
// store has: reopening keeps the data and does not run the migrations again.
import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { openStores } from "./open-stores.js";
import { imageStoreConformance } from "./image-store.conformance.js";
import { storeConformance } from "./store.conformance.js";
import { transactionConformance } from "./transaction.conformance.js";
import type { Stores } from "./store.js";

const dir = mkdtempSync(join(tmpdir(), "sbx-store-"));
let seq = 0;
const freshPath = (): string => join(dir, `store-${++seq}.db`);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const open = (path = freshPath()): Promise<Stores> => openStores({ kind: "sqlite", path });
storeConformance("SQLite", () => open());
imageStoreConformance("SQLite", () => open());
transactionConformance("SQLite", () => open());

interface SchemaRow {
  type: string;
  name: string;
  sql: string | null;
}

/** user_version and the schema, read with a separate connection. */
function inspect(path: string): { version: number; schema: SchemaRow[] } {
  const db = new Database(path, { readonly: true });
  try {
    const version = db.pragma("user_version", { simple: true }) as number;
    const schema = db.prepare("SELECT type, name, sql FROM sqlite_master ORDER BY type, name").all() as SchemaRow[];
    return { version, schema };
  } finally {
    db.close();
  }
}

describe("SqliteStore on disk", () => {
  it("migrates a new file and marks its schema version", async () => {
    const path = freshPath();
    const exec = vi.spyOn(Database.prototype, "exec");
    try {
      await (await open(path)).close();
      // Also proves the spy sees migrations, which the reopen test below relies on.
      expect(exec.mock.calls.some((c) => /CREATE TABLE/i.test(c[0]))).toBe(true);
    } finally {
      exec.mockRestore();
    }
    const { version, schema } = inspect(path);
    expect(version).toBeGreaterThan(0);
    expect(schema.filter((r) => r.type === "table").map((r) => r.name)).toEqual(
      expect.arrayContaining(["projects", "tokens", "sandboxes", "processes"]),
    );
  });

  it("keeps the data across a reopen and does not re-run migrations", async () => {
    const path = freshPath();
    const opened = await open(path);
    const first = opened.meta;
    const defaultProject = await first.getProject("default");
    await first.insertProject({ name: "team-b", createdAt: "2024-01-01T00:00:00.000Z" });
    await first.insertToken({
      id: "tok-1",
      project: "team-b",
      hash: "f".repeat(64),
      createdAt: "2024-01-01T00:00:01.000Z",
    });
    const sb = {
      id: "sb-1",
      project: "team-b",
      name: "web",
      image: "debian-minimal",
      imageId: "sha256:abc",
      status: "running" as const,
      cpus: 2,
      memoryMb: 256,
      pidsLimit: 64,
      diskMb: 1024,
      timeoutSecs: 0,
      allowInternetAccess: false,
      env: { K: "v" },
      config: { env: ["PATH=/bin"], workingDir: "/", user: "0:0" },
      netSlot: 3,
      ipAddress: "10.0.0.3",
      createdAt: "2024-01-01T00:00:02.000Z",
      startedAt: "2024-01-01T00:00:03.000Z",
      terminatedAt: null,
      terminationReason: null,
    };
    await first.insertSandbox(sb);
    const pr = {
      id: "pr-1",
      sandboxId: "sb-1",
      command: "sleep",
      args: ["100"],
      status: "running" as const,
      exitCode: null,
      signal: null,
      timedOut: false,
      stdin: true,
      hostPid: 77,
      deadline: null,
      startedAt: "2024-01-01T00:00:04.000Z",
      endedAt: null,
    };
    await first.insertProcess(pr);
    await opened.close();
    const before = inspect(path);

    const exec = vi.spyOn(Database.prototype, "exec");
    let reopened: Stores;
    try {
      reopened = await open(path);
      expect(exec.mock.calls.map((c) => c[0]).filter((sql) => /\b(CREATE|ALTER|DROP)\b/i.test(sql))).toEqual([]);
    } finally {
      exec.mockRestore();
    }
    const second = reopened.meta;
    try {
      expect(inspect(path)).toEqual(before);
      expect(await second.listProjects()).toEqual([
        defaultProject,
        { name: "team-b", createdAt: "2024-01-01T00:00:00.000Z" },
      ]);
      expect((await second.findTokenByHash("f".repeat(64)))?.id).toBe("tok-1");
      expect(await second.getSandbox("sb-1")).toEqual(sb);
      expect((await second.findSandboxByName("team-b", "web"))?.id).toBe("sb-1");
      expect([...(await second.usedNetSlots())]).toEqual([3]);
      expect(await second.listRunningProcesses()).toEqual([pr]);
      // The unique indexes still hold after the reopen.
      await expect(second.insertSandbox({ ...sb, id: "sb-2" })).rejects.toThrow(/already exists|network slot/);
    } finally {
      await reopened.close();
    }
  });
});
