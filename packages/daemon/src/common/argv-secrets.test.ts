// The masking of --store passwords in sbxd's process title (argv-secrets.ts).
import { describe, expect, it } from "vitest";
import { maskStoreArgs } from "./argv-secrets.js";

describe("maskStoreArgs", () => {
  it("masks the password of --store URLs, in both flag forms, and leaves the rest as given", () => {
    expect(
      maskStoreArgs(["--role", "control", "--store", "postgres://sbx:pw@db:5432/sbx", "--warm-pool", "0"]),
    ).toEqual(["--role", "control", "--store", "postgres://sbx:***@db:5432/sbx", "--warm-pool", "0"]);
    expect(maskStoreArgs(["--store=postgres://sbx:p%40ss@db/sbx?sslmode=require"])).toEqual([
      "--store=postgres://sbx:***@db/sbx?sslmode=require",
    ]);
  });

  it("answers undefined when nothing holds a password", () => {
    expect(maskStoreArgs(["--store", "postgres://sbx@db/sbx"])).toBeUndefined();
    expect(maskStoreArgs(["--store", "sqlite", "--data-dir", "/x"])).toBeUndefined();
    expect(maskStoreArgs(["--listen-tcp", "postgres://a:b@c/d"])).toBeUndefined();
  });
});
