// Cursors of directory listings: they round-trip any name a listing can hold, and anything the
// API did not give out (other encodings, paths, dot names, oversized pages) is refused.
import { describe, expect, it } from "vitest";
import { encodeCursor, pageRequest } from "./directory-cursor.js";

describe("directory cursors", () => {
  it("round-trip names with spaces, backslashes and non-ASCII", () => {
    for (const name of ["a b", "x\\y", "été", "-n", "'\""]) {
      expect(pageRequest(5, encodeCursor(name))).toEqual({ limit: 5, after: name });
    }
    expect(pageRequest(undefined, undefined)).toEqual({ limit: 1000 });
  });

  it("refuse what the API never gives out", () => {
    for (const c of ["not base64!", encodeCursor("a/b"), encodeCursor(".."), encodeCursor("."), "TWFu="])
      expect(() => pageRequest(5, c)).toThrow(expect.objectContaining({ code: "invalid_argument" }));
    // A name may hold a newline (listings give it out as a cursor): only "/" and NUL never appear.
    expect(pageRequest(5, encodeCursor("x\ny"))).toEqual({ limit: 5, after: "x\ny" });
    for (const l of [0, -1, 1.5, 10_001]) expect(() => pageRequest(l, undefined)).toThrow(/limit must be/);
  });
});
