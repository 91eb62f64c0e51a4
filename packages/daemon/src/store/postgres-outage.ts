// PostgreSQL being down or restarting, told apart from a query's own failure. A query that meets
// an outage fails with whatever the driver saw (a refused or reset connect, "Connection terminated
// unexpectedly", the server's "terminating connection due to administrator command"); passed on
// as it is, that reads as an `internal` error carrying the driver's words. Recognised here, it is
// `daemon_unavailable` (503): the caller may try again, and the next query reconnects by itself.
import { Socket } from "node:net";
import pg from "pg";
import { SbxError } from "@sbx-sh/protocol";

/** SQLSTATEs of an outage: connection exceptions (class 08), and the server shutting down or starting. */
const OUTAGE_STATES = /^(08...|57P0[1-3])$/;
/** The driver's own errors when its connection is gone or cannot be made in time. */
const DRIVER_OUTAGE =
  /^(Connection terminated( unexpectedly)?|Client has encountered a connection error and is not queryable|Client was closed and is not queryable|timeout exceeded when trying to connect|Connection terminated due to connection timeout)$/;
/**
 * Errors of the sockets this process's pools talk to PostgreSQL over. A refused connect or a reset
 * read is the bare socket error, with nothing saying it was PostgreSQL's socket (not a node's, not a
 * registry's): the socket marks it before the driver passes it on. (Over TLS the TLS socket's own
 * errors are not marked: those outages are still told by the driver's words and the SQLSTATEs.)
 */
const socketErrors = new WeakSet<Error>();

/** A pool's `stream` option: a plain socket, as the driver makes, whose errors are known as the store's. */
export function pgSocket(): Socket {
  const s = new Socket();
  // Registered before the driver's own listener, so the mark is there before any query sees the error.
  s.on("error", (err) => socketErrors.add(err));
  return s;
}

/** Whether `err` says the PostgreSQL server could not be reached or cut the connection. */
export function isPgOutage(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err instanceof pg.DatabaseError) return OUTAGE_STATES.test(err.code ?? "");
  if (DRIVER_OUTAGE.test(err.message)) return true;
  return socketErrors.has(err);
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
