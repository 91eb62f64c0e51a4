import { describe, expect, it } from "vitest";
import { nameToBytes } from "./byte-names.js";
import { parseListPage } from "./list-page.js";

const out = (s: string): Buffer => Buffer.from(s, "latin1");

describe("parseListPage", () => {
  it("reads names with newlines (written as /) and matches each stat line to its announced name", () => {
    const page = parseListPage(
      out("./a\n./b/c\n./x/81a4 1 2 fake\n@more\n@stat\n81a4 3 4 a\n41ed 5 6 b\nc\n81a4 7 8 x\n81a4 1 2 fake\n"),
      3,
    );
    expect(page.more).toBe(true);
    expect(page.entries).toEqual([
      { mode: 0x81a4, size: 3, mtime: 4, name: "a" },
      { mode: 0x41ed, size: 5, mtime: 6, name: "b\nc" },
      { mode: 0x81a4, size: 7, mtime: 8, name: "x\n81a4 1 2 fake" },
    ]);
  });

  it("skips a name whose stat line is missing (removed meanwhile) and takes nothing past the limit", () => {
    const page = parseListPage(out("./a\n./b\n./c\n@stat\n81a4 1 1 b\n81a4 2 2 c\n81a4 9 9 d\n"), 2);
    expect(page.entries.map((e) => e.name)).toEqual(["b"]);
    expect(page.more).toBe(false);
  });

  it("keeps names that are not UTF-8 as their bytes (./byte-names.ts), and an empty page ends the listing", () => {
    const name = parseListPage(out("./caf\xe9\n@stat\n81a4 0 0 caf\xe9\n"), 5).entries[0]!.name;
    expect(name).toBe("caf\uDCE9");
    expect(nameToBytes(name)).toEqual(Buffer.from("caf\xe9", "latin1"));
    expect(parseListPage(out(""), 5)).toEqual({ entries: [], more: false });
    expect(parseListPage(out("@more\n@stat\n"), 5)).toEqual({ entries: [], more: false });
  });
});
