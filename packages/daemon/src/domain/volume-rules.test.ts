// The rules of volumes: sizes, mount paths, the mounts of one request, and who may mount what.
import { describe, expect, it } from "vitest";
import { SbxError } from "@sbx-sh/protocol";
import type { SandboxRecord } from "./records.js";
import { assertMountable, checkMountPath, checkMounts, checkVolumeSize, holdersOf } from "./volume-rules.js";

const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    return err instanceof SbxError ? err.code : "not-sbx";
  }
  return undefined;
};

const sb = (id: string, status: SandboxRecord["status"], readOnly: boolean, volumeId = "vol-1") =>
  ({ id, name: null, status, volumes: [{ name: "data", volumeId, path: "/data", readOnly }] }) as SandboxRecord;

describe("volume rules", () => {
  it("takes sizes from 16 MiB to 1 TiB in whole MiB", () => {
    expect(code(() => checkVolumeSize(16))).toBeUndefined();
    expect(code(() => checkVolumeSize(1048576))).toBeUndefined();
    for (const bad of [15, 0, -1, 1.5, 1048577])
      expect(
        code(() => checkVolumeSize(bad)),
        String(bad),
      ).toBe("out_of_range");
  });

  it("takes absolute, normal paths outside what sbx mounts itself", () => {
    for (const ok of ["/data", "/home/u/cache", "/mnt/ro", "/procfs", "/devices", "/etc/app"])
      expect(
        code(() => checkMountPath(ok)),
        ok,
      ).toBeUndefined();
    for (const bad of [
      "data",
      "",
      "/",
      "/data/",
      "/a//b",
      "/a/../b",
      "/a/./b",
      "/proc",
      "/proc/x",
      "/sys/fs",
      "/dev/shm",
      "/.sbx",
      "/.sbx/busybox",
      "/etc/resolv.conf",
      "/a\nb",
      "/" + "x".repeat(4096),
    ])
      expect(
        code(() => checkMountPath(bad)),
        JSON.stringify(bad),
      ).toBe("invalid_path");
  });

  it("refuses a volume twice, overlapping paths, bad names and too many volumes in one request", () => {
    expect(
      code(() =>
        checkMounts([
          { name: "a", path: "/a" },
          { name: "b", path: "/ab" },
        ]),
      ),
    ).toBeUndefined();
    expect(
      code(() =>
        checkMounts([
          { name: "a", path: "/a" },
          { name: "a", path: "/b", readOnly: true },
        ]),
      ),
    ).toBe("invalid_argument");
    expect(
      code(() =>
        checkMounts([
          { name: "a", path: "/a" },
          { name: "b", path: "/a/b" },
        ]),
      ),
    ).toBe("invalid_path");
    expect(
      code(() =>
        checkMounts([
          { name: "a", path: "/a" },
          { name: "b", path: "/a" },
        ]),
      ),
    ).toBe("invalid_path");
    expect(code(() => checkMounts([{ name: "Bad!", path: "/a" }]))).toBe("invalid_name");
    const many = Array.from({ length: 17 }, (_, i) => ({ name: `v${i}`, path: `/v${i}` }));
    expect(code(() => checkMounts(many))).toBe("out_of_range");
  });

  it("lets one live sandbox write a volume and any number read it; terminated ones hold nothing", () => {
    const want = (readOnly: boolean) => ({ name: "data", volumeId: "vol-1", path: "/d", readOnly });
    expect(code(() => assertMountable(want(false), [sb("a", "running", true), sb("b", "suspended", true)]))).toBe(
      undefined,
    );
    expect(code(() => assertMountable(want(false), [sb("a", "suspended", false)]))).toBe("volume_in_use");
    expect(code(() => assertMountable(want(false), [sb("a", "pending", false)]))).toBe("volume_in_use");
    expect(code(() => assertMountable(want(true), [sb("a", "running", false)]))).toBeUndefined();
    expect(code(() => assertMountable(want(false), [sb("a", "terminated", false)]))).toBeUndefined();
    expect(code(() => assertMountable(want(false), [sb("a", "running", false, "vol-2")]))).toBeUndefined();
    expect(holdersOf("vol-1", [sb("a", "running", false), sb("b", "terminated", true)]).map((h) => h.sb.id)).toEqual([
      "a",
    ]);
  });
});
