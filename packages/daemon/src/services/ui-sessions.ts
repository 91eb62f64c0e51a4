// Sign-in sessions of the web dashboard: a project token is exchanged once for a random session id
// (the cookie) and a CSRF token (sent back in a header by state-changing requests). Sessions live
// in memory only, so a daemon restart signs everyone out; they expire after a fixed time and end
// at sign-out. The project token itself is never kept here nor shown again.
import { randomBytes, timingSafeEqual } from "node:crypto";

export interface UiSession {
  id: string;
  project: string;
  /** The id (never the secret) of the token signed in with: revoking it ends the session. */
  tokenId: string;
  csrf: string;
  expiresAt: number;
}

export const DEFAULT_SESSION_SECS = 12 * 3600;
/** Sessions kept at most; the oldest go first (sign-ins are cheap to repeat, memory is not). */
const MAX_SESSIONS = 10_000;

export class UiSessions {
  private readonly sessions = new Map<string, UiSession>();

  constructor(
    private readonly ttlSecs = DEFAULT_SESSION_SECS,
    private readonly now: () => number = Date.now,
  ) {}

  create(project: string, tokenId: string): UiSession {
    const s: UiSession = {
      id: randomBytes(32).toString("base64url"),
      project,
      tokenId,
      csrf: randomBytes(24).toString("base64url"),
      expiresAt: this.now() + this.ttlSecs * 1000,
    };
    if (this.sessions.size >= MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    this.sessions.set(s.id, s);
    return s;
  }

  /** The live session of a cookie value, or undefined (unknown, forged, expired or signed out). */
  get(id: string | undefined): UiSession | undefined {
    if (!id || !/^[A-Za-z0-9_-]{43}$/.test(id)) return undefined;
    const s = this.sessions.get(id);
    if (!s) return undefined;
    if (s.expiresAt <= this.now()) {
      this.sessions.delete(id);
      return undefined;
    }
    return s;
  }

  /** Constant-time comparison of the CSRF header with the session's token. */
  csrfMatches(s: UiSession, header: string | undefined): boolean {
    if (!header) return false;
    const a = Buffer.from(header);
    const b = Buffer.from(s.csrf);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  revoke(id: string): void {
    this.sessions.delete(id);
  }

  /** Ends every session signed in with a token that was revoked, or of a project that was deleted. */
  endWhere(match: { tokenId?: string; project?: string }): void {
    for (const [id, s] of this.sessions)
      if (s.tokenId === match.tokenId || s.project === match.project) this.sessions.delete(id);
  }

  get ttl(): number {
    return this.ttlSecs;
  }
}
