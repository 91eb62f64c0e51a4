// The --volume flag and --size of `sbx volume create`: what they accept and how they refuse.
import { InvalidArgumentError } from "commander";
import { describe, expect, it } from "vitest";
import { parseVolumeFlag, parseVolumeSize } from "./volumes.js";

describe("--volume and --size", () => {
  it("reads NAME:/path (read-write) and NAME:/path:ro, repeatable", () => {
    const one = parseVolumeFlag("data:/data");
    expect(one).toEqual([{ name: "data", path: "/data" }]);
    expect(parseVolumeFlag("cache:/var/cache:ro", one)).toEqual([
      { name: "data", path: "/data" },
      { name: "cache", path: "/var/cache", readOnly: true },
    ]);
    expect(parseVolumeFlag("x:/y:rw")).toEqual([{ name: "x", path: "/y" }]);
    for (const bad of ["data", "data:rel", ":/data", "data:/d:rx", "a:/b:ro:x"])
      expect(() => parseVolumeFlag(bad), bad).toThrow(InvalidArgumentError);
  });

  it("reads sizes in MiB or with a unit", () => {
    expect(parseVolumeSize("512")).toBe(512);
    expect(parseVolumeSize("512m")).toBe(512);
    expect(parseVolumeSize("1G")).toBe(1024);
    expect(parseVolumeSize("2GiB")).toBe(2048);
    expect(parseVolumeSize("1.5g")).toBe(1536);
    expect(parseVolumeSize("1t")).toBe(1048576);
    for (const bad of ["lots", "0", "1.3m", "-1g", "1k"])
      expect(() => parseVolumeSize(bad), bad).toThrow(InvalidArgumentError);
  });
});
