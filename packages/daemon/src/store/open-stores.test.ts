// Choosing the store: sqlite by default (a file in the data dir), PostgreSQL by --store/SBX_STORE
// with a postgres:// URL; anything else is refused before the daemon starts, and logs never show
// the URL's password.
import { describe, expect, it } from "vitest";
import { defaultConfig, parseFlags, USAGE } from "../config.js";
import { daemonStoreConfig, describeStore } from "./open-stores.js";

describe("--store", () => {
  it("defaults to SQLite in the data dir, as before", () => {
    const cfg = defaultConfig({ SBX_DATA_DIR: "/d" });
    expect(cfg.store).toBeNull();
    expect(daemonStoreConfig(cfg.store, cfg.dataDir)).toEqual({ kind: "sqlite", path: "/d/sbx.db" });
    expect(daemonStoreConfig(parseFlags(["--store", "sqlite"], cfg).store, "/d").kind).toBe("sqlite");
  });

  it("takes a PostgreSQL URL from the flag or the environment", () => {
    const url = "postgres://sbx:pw@db.internal:5432/sbx";
    expect(parseFlags(["--store", url], defaultConfig({})).store).toBe(url);
    expect(parseFlags([`--store=${url}`], defaultConfig({})).store).toBe(url);
    expect(defaultConfig({ SBX_STORE: "postgresql://h/db" }).store).toBe("postgresql://h/db");
    expect(daemonStoreConfig(url, "/d")).toEqual({ kind: "postgres", url });
    expect(USAGE).toContain("--store URL");
  });

  it("refuses anything else without echoing it (it may hold a password)", () => {
    for (const bad of ["mysql://u:secret@h/db", "postgres://", "secret-garbage", "/var/lib/sbx/sbx.db"]) {
      let err: unknown;
      try {
        parseFlags(["--store", bad], defaultConfig({}));
      } catch (e) {
        err = e;
      }
      expect((err as Error).message).toMatch(/option --store takes sqlite or a URL postgres:\/\//);
      expect((err as Error).message).not.toContain("secret");
    }
    expect(() => defaultConfig({ SBX_STORE: "redis://h" })).toThrow(/option SBX_STORE takes sqlite/);
  });

  it("describes the store for logs without the password", () => {
    expect(describeStore({ kind: "postgres", url: "postgres://sbx:hunter2@db:5432/sbx" })).toBe(
      "postgres://sbx:***@db:5432/sbx",
    );
    expect(describeStore({ kind: "sqlite", path: "/d/sbx.db" })).toBe("sqlite:/d/sbx.db");
  });
});
