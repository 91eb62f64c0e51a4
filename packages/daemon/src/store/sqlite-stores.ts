// Store and ImageStore on one SQLite file: the synchronous better-sqlite3 tables behind async
// methods, and transactions that span both. A TransactionGate keeps an open transaction to
// itself (see there); inside one, `tx` calls the tables directly.
import type Database from "better-sqlite3";
import { SqliteImageTables } from "./sqlite-image-store.js";
import { openSqliteDatabase, type Sync } from "./sqlite-database.js";
import { SqliteMetaTables } from "./sqlite-store.js";
import type { ImageOps, ImageStore, MetaOps, Store, Stores, StoreTx } from "./store.js";
import { TransactionGate } from "./transaction-gate.js";

export const META_METHODS = [
  "listProjects",
  "getProject",
  "insertProject",
  "insertToken",
  "findTokenByHash",
  "listTokens",
  "deleteToken",
  "deleteProject",
  "insertSandbox",
  "updateSandbox",
  "getSandbox",
  "findSandboxByName",
  "listSandboxes",
  "deleteSandbox",
  "usedNetSlots",
  "allocateNetSlot",
  "insertProcess",
  "updateProcess",
  "getProcess",
  "listProcesses",
  "listRunningProcesses",
  "exitedProcessesBeyond",
  "deleteProcesses",
  "putPortExposure",
  "getPortExposure",
  "listPortExposures",
  "deletePortExposure",
  "insertVolume",
  "getVolume",
  "listVolumes",
  "deleteVolume",
] as const satisfies readonly (keyof MetaOps)[];

export const IMAGE_METHODS = [
  "insertBuild",
  "updateBuild",
  "getBuild",
  "listBuilds",
  "listBuildsInState",
  "insertTemplateBuild",
  "updateTemplateBuild",
  "getTemplateBuild",
  "listTemplateBuildsInState",
  "getLayer",
  "putLayer",
  "deleteLayer",
  "listLayers",
  "getStepLayer",
  "pointStep",
  "registerImage",
  "findImage",
  "listImages",
  "listAllImages",
  "markImageDeleted",
  "deleteImage",
  "insertSnapshot",
  "updateSnapshot",
  "getSnapshot",
  "listSnapshots",
  "deleteSnapshot",
] as const satisfies readonly (keyof ImageOps)[];

// A method added to an interface but not to its list above fails to compile here.
const everyMeta: Record<Exclude<keyof MetaOps, (typeof META_METHODS)[number]>, never> = {};
const everyImage: Record<Exclude<keyof ImageOps, (typeof IMAGE_METHODS)[number]>, never> = {};
void everyMeta;
void everyImage;

type Runner = <R>(fn: () => R) => Promise<R>;

/** The async face of synchronous tables: each method runs the table's method through `run`. */
function async<T>(tables: Sync<T>, methods: readonly (keyof T & string)[], run: Runner): T {
  const out: Record<string, unknown> = {};
  for (const m of methods) {
    const method = tables[m] as (...args: unknown[]) => unknown;
    out[m] = (...args: unknown[]) => run(() => method.apply(tables, args));
  }
  return out as T;
}

export function openSqliteStores(path: string): Stores {
  const db = openSqliteDatabase(path);
  const meta = new SqliteMetaTables(db);
  const images = new SqliteImageTables(db);
  const gate = new TransactionGate();
  const plain: Runner = (fn) => gate.call(fn);
  const transaction = <T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> =>
    gate.exclusive(() => runTransaction(db, meta, images, fn));
  const metaStore: Store = { ...async<MetaOps>(meta, META_METHODS, plain), transaction };
  const imageStore: ImageStore = { ...async<ImageOps>(images, IMAGE_METHODS, plain), transaction };
  let closed = false;
  return {
    meta: metaStore,
    images: imageStore,
    async close() {
      if (closed) return;
      closed = true;
      // Lets an open transaction finish first rather than cutting it off.
      await gate.exclusive(async () => db.close());
    },
  };
}

/** Runs `fn` between BEGIN and COMMIT (ROLLBACK when it throws); the gate is held by the caller. */
async function runTransaction<T>(
  db: Database.Database,
  meta: SqliteMetaTables,
  images: SqliteImageTables,
  fn: (tx: StoreTx) => Promise<T>,
): Promise<T> {
  let open = true;
  const direct: Runner = (f) => {
    if (!open) return Promise.reject(new Error("the transaction has ended: its tx cannot be used any more"));
    try {
      return Promise.resolve(f());
    } catch (err) {
      return Promise.reject(err as Error);
    }
  };
  const tx: StoreTx = {
    ...async<MetaOps>(meta, META_METHODS, direct),
    ...async<ImageOps>(images, IMAGE_METHODS, direct),
  };
  // IMMEDIATE takes the write lock now: another process on the file (a test's inspection) cannot
  // slip a write in between our read and our write.
  db.exec("BEGIN IMMEDIATE");
  try {
    const result = await fn(tx);
    db.exec("COMMIT");
    return result;
  } catch (err) {
    if (db.inTransaction) db.exec("ROLLBACK");
    throw err;
  } finally {
    open = false;
  }
}
