// PostgreSQL being down or restarting, told apart from a query's own failure. A query that meets
// an outage fails with whatever the driver saw (a refused or reset connect, "Connection terminated
// unexpectedly", the server's "terminating connection due to administrator command"); passed on
// as it is, that reads as an `internal` error carrying the driver's words. Recognised here, it is
// `daemon_unavailable` (503): the caller may try again, and the next query reconnects by itself.
import pg from "pg";
import { SbxError } from "@sbx-sh/protocol";

/** SQLSTATEs of an outage: connection exceptions (class 08), and the server shutting down or starting. */
const OUTAGE_STATES = /^(08...|57P0[1-3])$/;
/** The driver's own errors when its connection is gone or cannot be made in time. */
const DRIVER_OUTAGE =
  /^(Connection terminated( unexpectedly)?|Client has encountered a connection error and is not queryable|Client was closed and is not queryable|timeout exceeded when trying to connect|Connection terminated due to connection timeout)$/;
const NET_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EPIPE"]);

/**
 * Ports of the PostgreSQL servers this process uses (a pool's connect failure is the bare socket
 * error, so its port is what says it was PostgreSQL, not a node or a registry).
 */
const ports = new Set<number>();

/** Notes the server of `url` (a postgres:// URL) so its connect failures are recognised as outages. */
export function notePgServer(url: string): void {
  try {
    ports.add(Number(new URL(url).port || 5432));
  } catch {
    // Not a URL (a keyword string): only the driver's and the server's own errors are recognised.
  }
}

/** Whether `err` says the PostgreSQL server could not be reached or cut the connection. */
export function isPgOutage(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err instanceof pg.DatabaseError) return OUTAGE_STATES.test(err.code ?? "");
  if (DRIVER_OUTAGE.test(err.message)) return true;
  const e = err as NodeJS.ErrnoException & { port?: number; address?: string };
  if (e.syscall !== "connect" || !NET_CODES.has(e.code ?? "")) return false;
  // TCP: the port; a unix socket: its name, .s.PGSQL.<port>.
  const port = e.port ?? Number(/\.s\.PGSQL\.(\d+)$/.exec(e.address ?? "")?.[1]);
  return ports.has(port);
}

/** The coded error for an outage (the driver's error kept as its cause, for the log), else undefined. */
export function pgOutageError(err: unknown): SbxError | undefined {
  if (!isPgOutage(err)) return undefined;
  return new SbxError(
    "daemon_unavailable",
    "the daemon's store (PostgreSQL) is unreachable or restarting: try again shortly",
    undefined,
    { cause: err },
  );
}
