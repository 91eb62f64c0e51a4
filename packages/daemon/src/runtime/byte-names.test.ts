// File names as bytes: every byte string round-trips through the daemon's string form.
import { describe, expect, it } from "vitest";
import { bytesToName, isTextName, nameToBytes, wireName } from "./byte-names.js";

describe("byte names", () => {
  it("keeps UTF-8 names as their text", () => {
    for (const s of ["a", "café", "日本", "😀x", "b\nc"]) {
      expect(bytesToName(Buffer.from(s))).toBe(s);
      expect(nameToBytes(s)).toEqual(Buffer.from(s));
      expect(wireName(s)).toEqual({ name: s });
    }
  });

  it("round-trips names that are not UTF-8, byte for byte", () => {
    const cases = [
      Buffer.from("caf\xe9", "latin1"),
      Buffer.from([0xff, 0xfe, 0x41]),
      Buffer.from([0xe2, 0x82]), // a cut 3-byte sequence
      Buffer.from([0xc0, 0xaf]), // overlong "/"
      Buffer.from([0xed, 0xa0, 0x80]), // an encoded surrogate
      Buffer.concat([Buffer.from("😀"), Buffer.from([0x80]), Buffer.from("日")]),
    ];
    for (const bytes of cases) {
      const name = bytesToName(bytes);
      expect(isTextName(name)).toBe(false);
      expect(nameToBytes(name)).toEqual(bytes);
      const wire = wireName(name);
      expect(Buffer.from(wire.nameBase64!, "base64")).toEqual(bytes);
      expect(isTextName(wire.name)).toBe(true);
    }
    expect(wireName(bytesToName(Buffer.from("caf\xe9", "latin1"))).name).toBe("caf\uFFFD");
  });
});
