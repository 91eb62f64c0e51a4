// The dashboard's little shared state: who is signed in, the current page (from the URL hash),
// a notice line, and a redraw function every part calls after changing something.
export interface Session {
  project: string;
  /** The id of the token signed in with (never its secret). */
  tokenId: string;
}

export const state: {
  session: Session | null;
  notice: { text: string; error: boolean } | null;
} = { session: null, notice: null };

let redrawFn: () => void = () => undefined;

export function onRedraw(fn: () => void): void {
  redrawFn = fn;
}

export function redraw(): void {
  redrawFn();
}

export function notify(text: string, error = false): void {
  state.notice = { text, error };
  redraw();
}

/** Runs an action and reports its error (with the request id) as the notice instead of throwing. */
export async function attempt(what: string, fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    const e = err as { message?: string; requestId?: string; status?: number };
    // The session ended (signed out elsewhere, its token revoked, the daemon restarted): sign in again.
    if (e.status === 401) state.session = null;
    notify(`${what} failed: ${e.message ?? String(err)}${e.requestId ? ` (request ${e.requestId})` : ""}`, true);
  }
}

/** `#/sandboxes/sb-123` → ["sandboxes", "sb-123"] (decoded). */
export function route(): string[] {
  return location.hash
    .replace(/^#\/?/, "")
    .split("/")
    .filter(Boolean)
    .map((p) => decodeURIComponent(p));
}
