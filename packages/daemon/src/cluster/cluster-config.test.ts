// --role and what each role needs: single by default; control only with a PostgreSQL store; node
// only with a control URL and a credential. Refused before the daemon starts, with the fix.
import { describe, expect, it } from "vitest";
import { defaultConfig, parseFlags, USAGE } from "../config.js";
import { roleProblem, warmPoolOf } from "../config-roles.js";

const SECRET = "s".repeat(32);

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
    const ok = parseFlags(
      ["--role=control", "--store", "postgres://h/db", "--node-lease", "2"],
      defaultConfig({ SBX_CLUSTER_SECRET: SECRET }),
    );
    expect(roleProblem(ok)).toBeNull();
    expect(ok.nodeLeaseSecs).toBe(2);
    // How long a lost node may stay away before its sandboxes are given up: 300 s unless told.
    expect(ok.nodeGiveUpSecs).toBe(300);
    expect(parseFlags(["--node-give-up", "60"], ok).nodeGiveUpSecs).toBe(60);
    expect(defaultConfig({ SBX_NODE_GIVE_UP_SECS: "7" }).nodeGiveUpSecs).toBe(7);
    expect(USAGE).toContain("--node-give-up S");
  });

  it("keeps a warm pool only where sandboxes run: a pool sized on a control replica is refused, not ignored", () => {
    const control = parseFlags(
      ["--role=control", "--store", "postgres://h/db"],
      defaultConfig({ SBX_CLUSTER_SECRET: SECRET }),
    );
    expect(warmPoolOf(control)).toBe(0);
    expect(roleProblem(parseFlags(["--warm-pool", "0"], control))).toBeNull();
    expect(roleProblem(parseFlags(["--warm-pool", "3"], control))).toMatch(/--warm-pool .* control replica runs none/);
    expect(roleProblem({ ...control, warmPool: defaultConfig({ SBX_WARM_POOL: "1" }).warmPool })).toMatch(
      /--warm-pool/,
    );
    expect(warmPoolOf(defaultConfig({}))).toBe(2);
    expect(warmPoolOf(parseFlags(["--warm-pool", "5"], defaultConfig({})))).toBe(5);
    expect(warmPoolOf(defaultConfig({ SBX_WARM_POOL: "0" }))).toBe(0);
  });

  it("node needs the control plane's URL and its credential (from the environment)", () => {
    expect(roleProblem(defaultConfig({ SBX_ROLE: "node" }))).toMatch(/--control/);
    expect(roleProblem(defaultConfig({ SBX_ROLE: "node", SBX_CONTROL: "ftp://x" }))).toMatch(/--control/);
    expect(roleProblem(defaultConfig({ SBX_ROLE: "node", SBX_CONTROL: "http://c:7070" }))).toMatch(/SBX_NODE_TOKEN/);
    const base = { SBX_ROLE: "node", SBX_CONTROL: "http://c:7070", SBX_NODE_TOKEN: "sbxn_x" };
    expect(roleProblem(defaultConfig(base))).toMatch(/--listen-tcp/);
    // No cluster secret on a node: its key comes from the control plane (node-key.ts).
    const cfg = defaultConfig({ ...base, SBX_LISTEN_TCP: "127.0.0.1:7080" });
    expect(roleProblem(cfg)).toBeNull();
    // A node's sandboxes, network slots and uid ranges are its own: never in a shared database.
    expect(roleProblem({ ...cfg, store: "postgres://h/db" })).toMatch(/own SQLite store/);
  });

  it("control needs the cluster secret, long enough; --node-ca is the control plane's only", () => {
    const cfg = parseFlags(["--role=control", "--store", "postgres://h/db"], defaultConfig({}));
    expect(roleProblem(cfg)).toMatch(/SBX_CLUSTER_SECRET/);
    expect(roleProblem({ ...cfg, clusterSecret: "short" })).toMatch(/32\+ characters/);
    expect(roleProblem({ ...cfg, clusterSecret: SECRET })).toBeNull();
    const tls = parseFlags(["--node-ca", "/etc/sbx/nodes-ca.pem"], { ...cfg, clusterSecret: SECRET });
    expect(tls.nodeCa).toBe("/etc/sbx/nodes-ca.pem");
    expect(roleProblem(tls)).toBeNull();
    expect(defaultConfig({ SBX_NODE_CA: "/ca.pem" }).nodeCa).toBe("/ca.pem");
    expect(roleProblem(parseFlags(["--node-ca", "/ca.pem"], defaultConfig({})))).toMatch(
      /--node-ca is for --role control/,
    );
  });

  it("refuses unknown roles and bad lease lengths", () => {
    expect(() => parseFlags(["--role", "leader"], defaultConfig({}))).toThrow(/takes one of single, control, node/);
    expect(() => defaultConfig({ SBX_NODE_LEASE_SECS: "0" })).toThrow(/SBX_NODE_LEASE_SECS takes seconds/);
    expect(() => parseFlags(["--node-give-up", "soon"], defaultConfig({}))).toThrow(/--node-give-up takes seconds/);
  });

  it("--registry is for the cluster roles, host[:port] only; the content cache size is checked", () => {
    const control = parseFlags(
      ["--role=control", "--store", "postgres://h/db", "--registry", "registry.internal:5000"],
      defaultConfig({ SBX_CLUSTER_SECRET: SECRET }),
    );
    expect(control.registry).toBe("registry.internal:5000");
    expect(roleProblem(control)).toBeNull();
    expect(roleProblem({ ...control, registry: "https://r/x" })).toMatch(/host\[:port\]/);
    expect(roleProblem(defaultConfig({ SBX_REGISTRY: "127.0.0.1:5000" }))).toMatch(/cluster content/);
    expect(defaultConfig({}).contentCacheMb).toBe(10240);
    expect(defaultConfig({ SBX_CONTENT_CACHE_MB: "0" }).contentCacheMb).toBe(0);
    expect(() => defaultConfig({ SBX_CONTENT_CACHE_MB: "lots" })).toThrow(/SBX_CONTENT_CACHE_MB/);
  });
});
