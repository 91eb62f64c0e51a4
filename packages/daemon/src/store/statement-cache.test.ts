import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { cacheStatements } from "./statement-cache.js";

describe("cacheStatements", () => {
  it("prepares each SQL text once and the shared statement answers every caller with its own values", () => {
    const db = new Database(":memory:");
    cacheStatements(db);
    db.prepare("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)").run();
    const insert = db.prepare("INSERT INTO t (k, v) VALUES (?, ?)");
    expect(db.prepare("INSERT INTO t (k, v) VALUES (?, ?)")).toBe(insert);
    insert.run("a", 1);
    db.prepare("INSERT INTO t (k, v) VALUES (?, ?)").run("b", 2);
    const get = (k: string) => (db.prepare("SELECT v FROM t WHERE k = ?").get(k) as { v: number } | undefined)?.v;
    expect([get("a"), get("b"), get("c")]).toEqual([1, 2, undefined]);
    expect(db.prepare("SELECT k FROM t ORDER BY k").all()).toEqual([{ k: "a" }, { k: "b" }]);
    // A failing statement is not cached in a broken state: the error is the caller's, as before.
    expect(() => db.prepare("SELECT nope FROM t").get()).toThrow(/no such column/);
    db.close();
  });
});
