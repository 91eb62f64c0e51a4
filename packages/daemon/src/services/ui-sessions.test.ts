import { describe, expect, it } from "vitest";
import { UiSessions } from "./ui-sessions.js";

describe("UiSessions", () => {
  it("answers a session until it expires or is revoked, and never a forged id", () => {
    let now = 1_000_000;
    const sessions = new UiSessions(60, () => now);
    const s = sessions.create("alpha", "tok_a");
    expect(sessions.get(s.id)?.project).toBe("alpha");
    expect(sessions.get(s.id.slice(0, -1) + (s.id.endsWith("A") ? "B" : "A"))).toBeUndefined();
    expect(sessions.get("../../etc/passwd")).toBeUndefined();
    now += 60_000;
    expect(sessions.get(s.id)).toBeUndefined();
    const t = sessions.create("alpha", "tok_a");
    sessions.revoke(t.id);
    expect(sessions.get(t.id)).toBeUndefined();
  });

  it("checks the CSRF token exactly", () => {
    const sessions = new UiSessions();
    const s = sessions.create("p", "tok_p");
    expect(sessions.csrfMatches(s, s.csrf)).toBe(true);
    expect(sessions.csrfMatches(s, undefined)).toBe(false);
    expect(sessions.csrfMatches(s, s.csrf + "x")).toBe(false);
    expect(sessions.csrfMatches(s, sessions.create("p", "tok_p").csrf)).toBe(false);
  });

  it("ends the sessions of a revoked token or a deleted project, and only those", () => {
    const sessions = new UiSessions();
    const a1 = sessions.create("alpha", "tok_1");
    const a2 = sessions.create("alpha", "tok_2");
    const b = sessions.create("beta", "tok_3");
    sessions.endWhere({ tokenId: "tok_1" });
    expect(sessions.get(a1.id)).toBeUndefined();
    expect(sessions.get(a2.id)?.tokenId).toBe("tok_2");
    sessions.endWhere({ project: "alpha" });
    expect(sessions.get(a2.id)).toBeUndefined();
    expect(sessions.get(b.id)?.project).toBe("beta");
  });
});
