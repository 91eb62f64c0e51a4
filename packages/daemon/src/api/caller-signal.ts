// Whether the caller of an API call is still there. A call whose caller left (its connection closed
// before the answer was complete) should stop the work done only for that answer: a file read that
// buffers the whole file would otherwise go on reading it from the sandbox for nobody.
import type { Context } from "hono";
import type { AppEnv } from "./api-types.js";
import { outgoingOf } from "./ndjson-out.js";

/** nginx's "client closed request": the status logged and counted for a call its caller abandoned. */
export const CALLER_GONE = 499;

/** Aborts when the call's connection closes before its answer was sent (never, off a real server). */
export function callerSignal(c: Context<AppEnv>): AbortSignal {
  const ctl = new AbortController();
  const out = outgoingOf(c);
  const gone = (): void => ctl.abort(new Error("the caller went away"));
  if (out?.destroyed) gone();
  else out?.once("close", () => out.writableFinished || gone());
  return ctl.signal;
}

/** `work`'s answer; a CALLER_GONE response (sent to no one) when it failed because the caller left. */
export async function whileCallerStays(c: Context<AppEnv>, work: (signal: AbortSignal) => Promise<Response>) {
  const signal = callerSignal(c);
  try {
    return await work(signal);
  } catch (err) {
    if (signal.aborted) return new Response(null, { status: CALLER_GONE });
    throw err;
  }
}
