// The PostgreSQL stores: the same conformance suites as SQLite on the run's throwaway server (a
// fresh schema per test), plus what only PostgreSQL has: versioned migrations in a table that
// concurrent daemons apply once, failures that leave an open transaction usable, the database's
// clock, and several connections really writing at once.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SbxError } from "@sbx-sh/protocol";
import { image, imageStoreConformance } from "./image-store.conformance.js";
import { openStores } from "./open-stores.js";
import { PG_MIGRATIONS } from "./postgres-schema.js";
import { storeConformance } from "./store.conformance.js";
import { at, sandbox } from "./testing/store-records.js";
import { transactionConformance } from "./transaction.conformance.js";
import type { Stores } from "./store.js";
import { freshSchema, pgTestUrl } from "../testing/pg-test.js";

const open = (schema = freshSchema()): Promise<Stores> => openStores({ kind: "postgres", url: pgTestUrl(), schema });
storeConformance("PostgreSQL", () => open());
imageStoreConformance("PostgreSQL", () => open());
transactionConformance("PostgreSQL", () => open());

describe("PostgreSQL store specifics", () => {
  let admin: pg.Client;
  beforeAll(async () => {
    admin = new pg.Client({ connectionString: pgTestUrl() });
    await admin.connect();
  });
  afterAll(() => admin.end());

  const versions = async (schema: string): Promise<number[]> =>
    (
      await admin.query<{ version: number }>(`SELECT version FROM "${schema}".schema_migrations ORDER BY version`)
    ).rows.map((r) => r.version);

  it("records each migration once, even when several daemons open the schema at the same time", async () => {
    const schema = freshSchema();
    const all = await Promise.all([open(schema), open(schema), open(schema)]);
    await Promise.all(all.map((s) => s.close()));
    expect(await versions(schema)).toEqual(PG_MIGRATIONS.map((_, i) => i + 1));
    const tables = await admin.query<{ t: string }>(
      "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1",
      [schema],
    );
    expect(tables.rows.map((r) => r.t)).toEqual(
      expect.arrayContaining([
        "projects",
        "tokens",
        "sandboxes",
        "processes",
        "images",
        "snapshots",
        "schema_migrations",
      ]),
    );
    // Exactly one default project: the migration ran once.
    const n = await admin.query(`SELECT * FROM "${schema}".projects WHERE name = 'default'`);
    expect(n.rowCount).toBe(1);
  });

  it("keeps the data across a reopen without migrating again", async () => {
    const schema = freshSchema();
    const first = await open(schema);
    await first.meta.insertSandbox(sandbox("sb-1", { name: "web", netSlot: 2 }));
    await first.close();
    const applied = await admin.query(`SELECT version, applied_at FROM "${schema}".schema_migrations ORDER BY 1`);
    const second = await open(schema);
    try {
      expect(await second.meta.getSandbox("sb-1")).toEqual(sandbox("sb-1", { name: "web", netSlot: 2 }));
      expect([...(await second.meta.usedNetSlots())]).toEqual([2]);
      const again = await admin.query(`SELECT version, applied_at FROM "${schema}".schema_migrations ORDER BY 1`);
      expect(again.rows).toEqual(applied.rows);
    } finally {
      await second.close();
    }
  });

  it("a taken name fails that call alone: the rest of the transaction still commits", async () => {
    const stores = await open();
    try {
      await stores.meta.insertSandbox(sandbox("sb-1", { name: "web" }));
      await stores.meta.transaction(async (tx) => {
        const err = await tx.insertSandbox(sandbox("sb-2", { name: "web" })).catch((e: unknown) => e);
        expect((err as SbxError).code).toBe("already_exists");
        await tx.insertSandbox(sandbox("sb-3", { name: "api" }));
      });
      expect((await stores.meta.getSandbox("sb-3"))?.name).toBe("api");
      expect(await stores.meta.getSandbox("sb-2")).toBeUndefined();
    } finally {
      await stores.close();
    }
  });

  it("stamps an image's deletion with the database's clock", async () => {
    const stores = await open();
    try {
      const img = image("i1", { createdAt: at(0) });
      await stores.images.registerImage(img, false);
      const before = (await admin.query<{ t: Date }>("SELECT now() AS t")).rows[0]!.t.getTime();
      await stores.images.markImageDeleted("i1");
      const after = (await admin.query<{ t: Date }>("SELECT now() AS t")).rows[0]!.t.getTime();
      const stamped = Date.parse((await stores.images.listAllImages())[0]!.deletedAt!);
      expect(stamped).toBeGreaterThanOrEqual(before - 1);
      expect(stamped).toBeLessThanOrEqual(after + 1);
    } finally {
      await stores.close();
    }
  });

  it("refuses a plain store call from inside a transaction instead of waiting on itself", async () => {
    const stores = await open();
    try {
      await stores.meta.transaction(async (tx) => {
        await tx.insertSandbox(sandbox("sb-1"));
        await expect(stores.meta.getSandbox("sb-1")).rejects.toThrow(/inside a transaction/);
        await expect(stores.meta.transaction(async () => 1)).rejects.toThrow(/inside a transaction/);
      });
      expect((await stores.meta.getSandbox("sb-1"))?.id).toBe("sb-1");
    } finally {
      await stores.close();
    }
  });

  it("rejects a bad URL with the driver's error and leaves nothing open", async () => {
    const url = new URL(pgTestUrl());
    url.pathname = "/no_such_database";
    await expect(openStores({ kind: "postgres", url: url.toString(), schema: freshSchema() })).rejects.toThrow(
      /no_such_database/,
    );
  });
});
