// Paths as text or bytes: the query each sends, and the path of a listed entry.
import { describe, expect, it } from "vitest";
import { entryPath, pathQuery, pathText } from "./file-path.js";

describe("sandbox paths", () => {
  it("sends text as path and bytes as pathBase64", () => {
    expect(pathQuery("/a b")).toEqual({ path: "/a b" });
    expect(pathQuery(Buffer.from("/caf\xe9", "latin1"))).toEqual({ pathBase64: "L2NhZuk=" });
    expect(pathText(Buffer.from("/caf\xe9", "latin1"))).toBe("/caf\uFFFD");
  });

  it("joins a listed entry to its directory, as bytes when its name is not UTF-8", () => {
    expect(entryPath("/nl", { name: "a" })).toBe("/nl/a");
    expect(entryPath("/", { name: "a" })).toBe("/a");
    const bytes = entryPath("/nl", {
      name: "caf\uFFFD",
      nameBase64: Buffer.from("caf\xe9", "latin1").toString("base64"),
    });
    expect(Buffer.from(bytes as Uint8Array)).toEqual(Buffer.from("/nl/caf\xe9", "latin1"));
    const inside = entryPath(bytes, { name: "x" });
    expect(Buffer.from(inside as Uint8Array)).toEqual(Buffer.from("/nl/caf\xe9/x", "latin1"));
  });
});
