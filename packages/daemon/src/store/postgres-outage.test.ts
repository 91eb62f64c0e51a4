// Telling a PostgreSQL outage from a query's own failure: the server's shutdown and connection
// SQLSTATEs, the driver's lost-connection errors, and a refused connect on a socket of the store's
// pools are outages (daemon_unavailable, the driver's words kept only as the cause); a syntax error,
// a constraint, or the same socket error on a socket not the store's are not.
import pg from "pg";
import { describe, expect, it } from "vitest";
import { freePort } from "../testing/free-port.js";
import { isPgOutage, pgOutageError, pgSocket } from "./postgres-outage.js";

const dbError = (code: string): pg.DatabaseError => {
  const e = new pg.DatabaseError("the server's words", 0, "error");
  e.code = code;
  return e;
};

/** The error a real client gets connecting to a port nothing listens on. */
async function refusedConnect(port: number, stream?: typeof pgSocket): Promise<unknown> {
  const c = new pg.Client({ connectionString: `postgres://sbx@127.0.0.1:${port}/postgres`, stream });
  return c.connect().then(
    () => new Error("connected"),
    (err: unknown) => err,
  );
}

describe("PostgreSQL outages", () => {
  it("are the server shutting down or starting, and lost connections", () => {
    for (const code of ["57P01", "57P02", "57P03", "08006", "08001"])
      expect(isPgOutage(dbError(code)), code).toBe(true);
    expect(isPgOutage(new Error("Connection terminated unexpectedly"))).toBe(true);
    expect(isPgOutage(new Error("Client has encountered a connection error and is not queryable"))).toBe(true);
    const e = pgOutageError(dbError("57P01"))!;
    expect(e.code).toBe("daemon_unavailable");
    expect(e.message).not.toMatch(/server's words/);
  });

  it("are not a query's own failure", () => {
    for (const code of ["42601", "23505", "40001"]) expect(isPgOutage(dbError(code)), code).toBe(false);
    expect(isPgOutage(new Error("Connection terminated by the user, and more"))).toBe(false);
    expect(pgOutageError(new Error("boom"))).toBeUndefined();
  });

  it("are a refused connect only on a socket of the store's pools", async () => {
    const port = await freePort();
    expect(isPgOutage(await refusedConnect(port, pgSocket))).toBe(true);
    // The same bare socket error from another socket (a node's, a registry's) is not the store's.
    expect(isPgOutage(await refusedConnect(port))).toBe(false);
  });
});
