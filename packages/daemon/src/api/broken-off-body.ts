// A call whose request body broke off because the client went away (Ctrl-C in the middle of an
// upload or an image import, a dropped connection) fails its handler with the connection's own
// error. That is the client's doing, not the daemon's: it becomes the coded 400 a small body that
// breaks off gets, instead of a 500 logged with a stack as "request failed" and counted as a
// server error in the metrics every time a user interrupts a copy.
import { IncomingMessage } from "node:http";
import type { Context } from "hono";
import { SbxError } from "@sbx-sh/protocol";

/** How many `cause` links are followed to find the connection's error inside a wrapping one. */
const MAX_CAUSES = 8;

/** The coded error for `err` when it is the request body's own failure; undefined for anything else. */
export function brokenOffBody(c: Context, err: unknown): SbxError | undefined {
  const incoming = (c.env as { incoming?: unknown } | undefined)?.incoming;
  if (!(incoming instanceof IncomingMessage) || !incoming.errored) return undefined;
  let e = err;
  for (let i = 0; e && i < MAX_CAUSES; i++, e = (e as { cause?: unknown }).cause)
    if (e === incoming.errored)
      return new SbxError("invalid_argument", "the request's body broke off", undefined, { cause: err });
  return undefined;
}
