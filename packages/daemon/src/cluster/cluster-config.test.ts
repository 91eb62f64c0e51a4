// --role and what each role needs: single by default; control only with a PostgreSQL store; node
// only with a control URL and a credential. Refused before the daemon starts, with the fix.
import { describe, expect, it } from "vitest";
import { defaultConfig, parseFlags, roleProblem, USAGE } from "../config.js";

describe("--role", () => {
  it("is single by default, which needs nothing", () => {
    const cfg = defaultConfig({});
    expect(cfg.role).toBe("single");
    expect(roleProblem(cfg)).toBeNull();
    expect(cfg.nodeLeaseSecs).toBe(15);
    expect(USAGE).toContain("--role ROLE");
  });

  it("control needs a PostgreSQL store", () => {
    expect(roleProblem(parseFlags(["--role", "control"], defaultConfig({})))).toMatch(/--store postgres/);
    const ok = parseFlags(["--role=control", "--store", "postgres://h/db", "--node-lease", "2"], defaultConfig({}));
    expect(roleProblem(ok)).toBeNull();
    expect(ok.nodeLeaseSecs).toBe(2);
  });

  it("node needs the control plane's URL and its credential (from the environment)", () => {
    expect(roleProblem(defaultConfig({ SBX_ROLE: "node" }))).toMatch(/--control/);
    expect(roleProblem(defaultConfig({ SBX_ROLE: "node", SBX_CONTROL: "ftp://x" }))).toMatch(/--control/);
    expect(roleProblem(defaultConfig({ SBX_ROLE: "node", SBX_CONTROL: "http://c:7070" }))).toMatch(/SBX_NODE_TOKEN/);
    const cfg = defaultConfig({ SBX_ROLE: "node", SBX_CONTROL: "http://c:7070", SBX_NODE_TOKEN: "sbxn_x" });
    expect(roleProblem(cfg)).toBeNull();
  });

  it("refuses unknown roles and bad lease lengths", () => {
    expect(() => parseFlags(["--role", "leader"], defaultConfig({}))).toThrow(/takes one of single, control, node/);
    expect(() => defaultConfig({ SBX_NODE_LEASE_SECS: "0" })).toThrow(/SBX_NODE_LEASE_SECS takes seconds/);
  });
});
