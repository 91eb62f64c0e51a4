// Unit tests of sbxd's settings: defaults, environment variables checked like flags, flags on top,
// and the --runtime option (SBX_RUNTIME), which accepts only the runtimes this build has.
import { describe, expect, it } from "vitest";
import { defaultConfig, parseFlags, USAGE } from "./config.js";

describe("daemon config", () => {
  it("has defaults without any environment", () => {
    const cfg = defaultConfig({});
    expect(cfg).toMatchObject({
      socket: "/run/sbx/sbxd.sock",
      dataDir: "/var/lib/sbx",
      uidBase: 100000,
      uidCount: 65536,
      // Not given: the role's default (config-roles.ts warmPoolOf).
      warmPool: null,
      egressRefreshSecs: 60,
      proxyListen: "127.0.0.1:7071",
      debianMirror: null,
      ubuntuMirror: null,
    });
  });

  it("collects extra CA files from SBX_CA_CERTS and repeated --ca-cert flags", () => {
    const base = defaultConfig({ SBX_CA_CERTS: "/a.pem:/b.pem" });
    expect(base.caCerts).toEqual(["/a.pem", "/b.pem"]);
    expect(parseFlags(["--ca-cert", "/c.pem", "--ca-cert=/d.pem"], base).caCerts).toEqual([
      "/a.pem",
      "/b.pem",
      "/c.pem",
      "/d.pem",
    ]);
    expect(defaultConfig({}).caCerts).toEqual([]);
    expect(() => parseFlags(["--ca-cert"], base)).toThrow(/--ca-cert needs a value/);
  });

  it("reads the base image mirrors from the environment", () => {
    const cfg = defaultConfig({ SBX_DEBIAN_MIRROR: "http://mirror.test/debian/", SBX_UBUNTU_MIRROR: "http://u.test/" });
    expect(cfg.debianMirror).toBe("http://mirror.test/debian/");
    expect(cfg.ubuntuMirror).toBe("http://u.test/");
  });

  it("checks SBX_UID_BASE like the other numbers: a whole number, never 0 (the host's root)", () => {
    expect(defaultConfig({ SBX_UID_BASE: "200000" }).uidBase).toBe(200000);
    for (const bad of ["", "abc", "1.5", "-1", "0", "4294967295", "1e99"])
      expect(() => defaultConfig({ SBX_UID_BASE: bad }), bad).toThrow(/SBX_UID_BASE takes a whole number/);
  });

  it("checks the other numbers from the environment as it checks the flags", () => {
    expect(() => defaultConfig({ SBX_WARM_POOL: "65" })).toThrow(/SBX_WARM_POOL/);
    expect(() => defaultConfig({ SBX_EGRESS_REFRESH_SECS: "0" })).toThrow(/SBX_EGRESS_REFRESH_SECS/);
  });

  it("flags win over the environment", () => {
    const cfg = parseFlags(["--warm-pool", "0", "--proxy-listen=off"], defaultConfig({ SBX_WARM_POOL: "3" }));
    expect(cfg.warmPool).toBe(0);
    expect(cfg.proxyListen).toBeNull();
    expect(() => parseFlags(["--nope"], defaultConfig({}))).toThrow(/unknown option --nope/);
  });
});

describe("--cgroup-parent and --nft-table (several nodes on one machine)", () => {
  it("default to sbx, and are read from the environment and flags", () => {
    expect(defaultConfig({})).toMatchObject({ cgroupParent: "sbx", nftTable: "sbx" });
    const env = defaultConfig({ SBX_CGROUP_PARENT: "sbx-n1", SBX_NFT_TABLE: "sbx_n1" });
    expect(env).toMatchObject({ cgroupParent: "sbx-n1", nftTable: "sbx_n1" });
    expect(parseFlags(["--cgroup-parent", "fleet/n2", "--nft-table=sbx_n2"], env)).toMatchObject({
      cgroupParent: "fleet/n2",
      nftTable: "sbx_n2",
    });
    expect(USAGE).toMatch(/--cgroup-parent P/);
    expect(USAGE).toMatch(/--nft-table NAME/);
  });

  it("refuses a cgroup path that could leave the hierarchy and a table name nft would misread", () => {
    for (const bad of ["/sbx", "../sbx", "sbx/..", "sbx/./x", "", "sbx//n1", "a b", "sbx/n1/"])
      expect(() => parseFlags(["--cgroup-parent", bad], defaultConfig({}))).toThrow(/relative cgroup path/);
    expect(() => defaultConfig({ SBX_CGROUP_PARENT: ".." })).toThrow(/SBX_CGROUP_PARENT/);
    for (const bad of ["Sbx", "sbx; flush ruleset", "1sbx", "sbx-n1", ""])
      expect(() => parseFlags(["--nft-table", bad], defaultConfig({}))).toThrow(/table name/);
  });
});

describe("--runtime", () => {
  it("defaults to crun and accepts it by flag and environment", () => {
    expect(defaultConfig({}).runtime).toBe("crun");
    expect(defaultConfig({ SBX_RUNTIME: "crun" }).runtime).toBe("crun");
    expect(parseFlags(["--runtime", "crun"], defaultConfig({})).runtime).toBe("crun");
    expect(parseFlags(["--runtime=crun"], defaultConfig({})).runtime).toBe("crun");
    expect(USAGE).toContain("--runtime NAME");
  });

  it("refuses any other runtime with a clear error", () => {
    expect(() => parseFlags(["--runtime", "runsc"], defaultConfig({}))).toThrow(
      'option --runtime takes one of crun, got "runsc"',
    );
    expect(() => defaultConfig({ SBX_RUNTIME: "firecracker" })).toThrow(
      'option SBX_RUNTIME takes one of crun, got "firecracker"',
    );
  });
});
