// The directory listing a (possibly hostile) agent sends: well-formed records parse, anything else
// (a missing terminator, a slash or `..` in a name, an oversized field) is refused, never trusted.
import { describe, expect, it } from "vitest";
import { parseListing } from "./agent-files.js";

describe("parseListing", () => {
  it("parses NUL-terminated records, names with spaces and newlines included", () => {
    const out = Buffer.from("81a4 3 1700000000 a b\0" + "41ed 4096 1700000001 line\nbreak\0");
    expect(parseListing(out)).toEqual([
      { mode: 0o100644, size: 3, mtime: 1700000000, name: "a b" },
      { mode: 0o40755, size: 4096, mtime: 1700000001, name: "line\nbreak" },
    ]);
    expect(parseListing(Buffer.alloc(0))).toEqual([]);
  });

  it.each([
    ["no terminator", "81a4 3 1 a"],
    ["a slash in a name", "81a4 3 1 ../etc/passwd\0"],
    ["a dot-dot name", "41ed 3 1 ..\0"],
    ["an empty name", "81a4 3 1 \0"],
    ["a mode too long", "123456789 3 1 a\0"],
    ["a size too long", `81a4 ${"9".repeat(21)} 1 a\0`],
    ["garbage", "hello\0"],
  ])("refuses %s", (_, text) => {
    expect(() => parseListing(Buffer.from(text))).toThrow(/malformed directory listing/);
  });
});
