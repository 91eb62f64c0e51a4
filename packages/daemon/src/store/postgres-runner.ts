// How the PostgreSQL tables reach the database: a PgRunner runs one statement, or a group of
// statements atomically. Outside a transaction it takes a pooled connection per statement and a
// transaction of its own for a group; inside one it uses the transaction's connection and a
// SAVEPOINT for a group, so an expected failure (a unique name taken) fails that call alone and
// leaves the caller's transaction usable, as it is with SQLite.
import { AsyncLocalStorage } from "node:async_hooks";
import type { Pool, PoolClient, QueryResultRow } from "pg";

export interface PgRunner {
  query<R extends QueryResultRow = QueryResultRow>(sql: string, params?: unknown[]): Promise<R[]>;
  /** Like query, with the number of rows the statement changed. */
  execute(sql: string, params?: unknown[]): Promise<number>;
  /** Runs `fn` so that all of its statements take effect or none does. */
  atomic<T>(fn: (q: PgRunner) => Promise<T>): Promise<T>;
  /**
   * Runs one statement whose failure is expected (a unique name taken) so that the failure leaves
   * an open transaction usable: a savepoint inside one, nothing extra outside (a single statement
   * is atomic by itself).
   */
  contain<T>(fn: (q: PgRunner) => Promise<T>): Promise<T>;
}

/** Marks the async context of an open transaction: a plain call from there is a bug (see store.ts). */
const inside = new AsyncLocalStorage<{ open: boolean }>();

function refuseInsideTransaction(): void {
  if (inside.getStore()?.open)
    throw new Error("store call inside a transaction: use the transaction's tx (the store waits for the transaction)");
}

/** Runs `fn` between BEGIN and COMMIT on one pooled connection (ROLLBACK when it throws). */
export async function inTransaction<T>(pool: Pool, fn: (q: PgRunner) => Promise<T>): Promise<T> {
  refuseInsideTransaction();
  const client = await pool.connect();
  const mark = { open: true };
  let broken: Error | undefined;
  try {
    await client.query("BEGIN");
    try {
      const result = await inside.run(mark, () => fn(clientRunner(client, mark)));
      await client.query("COMMIT");
      return result;
    } catch (err) {
      await client.query("ROLLBACK").catch((e: Error) => (broken = e));
      throw err;
    }
  } finally {
    mark.open = false;
    // A connection whose ROLLBACK failed is in an unknown state: the pool drops it.
    client.release(broken);
  }
}

/** Statements on the pool, each on whichever connection is free. */
export function poolRunner(pool: Pool): PgRunner {
  return {
    async query<R extends QueryResultRow>(sql: string, params?: unknown[]) {
      refuseInsideTransaction();
      return (await pool.query<R>(sql, params)).rows;
    },
    async execute(sql, params) {
      refuseInsideTransaction();
      return (await pool.query(sql, params)).rowCount ?? 0;
    },
    atomic: (fn) => inTransaction(pool, fn),
    contain(fn) {
      return fn(this);
    },
  };
}

let savepoints = 0;

/** Statements on a transaction's connection, refused once the transaction has ended. */
function clientRunner(client: PoolClient, mark: { open: boolean }): PgRunner {
  const check = (): void => {
    if (!mark.open) throw new Error("the transaction has ended: its tx cannot be used any more");
  };
  const runner: PgRunner = {
    async query<R extends QueryResultRow>(sql: string, params?: unknown[]) {
      check();
      return (await client.query<R>(sql, params)).rows;
    },
    async execute(sql, params) {
      check();
      return (await client.query(sql, params)).rowCount ?? 0;
    },
    async atomic(fn) {
      check();
      const sp = `sbx_sp_${++savepoints}`;
      await client.query(`SAVEPOINT ${sp}`);
      try {
        const result = await fn(runner);
        await client.query(`RELEASE SAVEPOINT ${sp}`);
        return result;
      } catch (err) {
        await client.query(`ROLLBACK TO SAVEPOINT ${sp}`);
        throw err;
      }
    },
    contain(fn) {
      return runner.atomic(fn);
    },
  };
  return runner;
}
