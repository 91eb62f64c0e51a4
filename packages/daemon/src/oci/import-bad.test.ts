// Hostile and broken archives: crafted layer tars (escapes, symlink tricks, devices, hard links
// out of the layer) and broken layouts (digests, sizes, media types, missing blobs). Each must fail
// with invalid_archive, register nothing and leave no layer behind.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LayerStore } from "../layers/layer-store.js";
import type { ImageRecord, LayerRecord } from "../domain/records.js";
import { importImage } from "./import.js";
import { readLayout } from "./layout.js";
import { layout, tarOf, type Entry } from "./testing/craft.js";

const isRoot = process.getuid?.() === 0;

describe.runIf(isRoot)("import refuses bad archives", () => {
  let root: string;
  let n = 0;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "sbx-oci-bad-"));
  });
  afterAll(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  async function attempt(
    tars: Buffer[],
    tweak: Parameters<typeof layout>[2] = {},
  ): Promise<{ error: unknown; images: ImageRecord[]; layerDir: string }> {
    const dir = join(root, `case-${++n}`);
    await layout(dir, tars, tweak);
    const layerDir = join(root, `layers-${n}`);
    const images: ImageRecord[] = [];
    const layers = new Map<string, LayerRecord>();
    const store = {
      getLayer: async (k: string) => layers.get(k),
      putLayer: async (l: LayerRecord) => void layers.set(l.key, l),
      registerImage: async (i: ImageRecord) => void images.push(i),
      findImage: async () => undefined,
    };
    const error = await readLayout(dir)
      .then((plan) =>
        importImage(
          plan,
          { layers: new LayerStore(layerDir), store, uidBase: 100000 },
          { project: "p", name: "x", tag: "1", replace: false, source: "t" },
        ),
      )
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    return { error, images, layerDir };
  }

  const good: Entry[] = [
    { path: "etc/", type: "dir", mode: 0o755 },
    { path: "etc/ok", data: "ok" },
  ];
  const cases: Array<[string, Entry[], RegExp]> = [
    ["a ../ entry", [...good, { path: "etc/../../escape", data: "x" }], /escapes the layer/],
    ["an absolute path", [{ path: "/etc/passwd", data: "x" }], /absolute path/],
    [
      "a write through a symlink",
      [
        { path: "evil", type: "symlink", linkpath: "/etc" },
        { path: "evil/passwd", data: "x" },
      ],
      /not a directory \(symlinks are never followed\)/,
    ],
    [
      "a write through a relative symlink",
      [
        { path: "up", type: "symlink", linkpath: "../../.." },
        { path: "up/x", data: "x" },
      ],
      /symlinks are never followed/,
    ],
    ["a hard link to a host path", [{ path: "h", type: "hardlink", linkpath: "/etc/shadow" }], /hard link/],
    ["a hard link out of the layer", [{ path: "h", type: "hardlink", linkpath: "../x" }], /hard link/],
    ["a device node", [{ path: "dev/sda", type: "block", devmajor: 8, devminor: 0 }], /device nodes are refused/],
    ["a char device", [{ path: "dev/mem", type: "char", devmajor: 1, devminor: 1 }], /device nodes are refused/],
    ["an owner outside the range", [{ path: "f", data: "x", uid: 70000 }], /owner id 70000/],
    [
      "a duplicate turning a dir into a symlink",
      [...good, { path: "etc", type: "symlink", linkpath: "/" }],
      /appears twice/,
    ],
  ];
  for (const [what, entries, message] of cases) {
    it(`refuses ${what}`, async () => {
      const r = await attempt([tarOf(entries)]);
      expect(r.error).toMatchObject({ code: "invalid_archive" });
      expect((r.error as Error).message).toMatch(message);
      expect(r.images).toHaveLength(0);
      expect(existsSync(r.layerDir) ? readdirSync(r.layerDir) : []).toEqual([]);
    });
  }

  const broken: Array<[string, Parameters<typeof layout>[2], RegExp]> = [
    ["a wrong diff id", { wrongDiffId: true }, /diff_id/],
    ["a missing blob", { dropBlob: true }, /missing/],
    ["a corrupt blob", { corruptBlob: true }, /cannot be decompressed|does not match/],
    [
      "an unsupported media type",
      { layerType: "application/vnd.oci.image.layer.v1.tar+zstd" },
      /unsupported media type/,
    ],
  ];
  for (const [what, tweak, message] of broken) {
    it(`refuses ${what}`, async () => {
      const r = await attempt([tarOf(good), tarOf([{ path: "second", data: "2" }])], tweak);
      expect(r.error).toMatchObject({ code: "invalid_archive" });
      expect((r.error as Error).message).toMatch(message);
      expect(r.images).toHaveLength(0);
      expect(existsSync(r.layerDir) ? readdirSync(r.layerDir) : []).toEqual([]);
    });
  }

  it("accepts the good layers, with a long name and an xattr kept", async () => {
    const long = `d/${"n".repeat(150)}`;
    const r = await attempt([
      tarOf([
        ...good,
        {
          path: long,
          data: "long",
          xattrs: { "user.note": Buffer.from("hi"), "trusted.overlay.opaque": Buffer.from("y") },
        },
      ]),
    ]);
    expect(r.error).toBeUndefined();
    expect(r.images).toHaveLength(1);
    const file = join(r.images[0]!.baseDir, long);
    expect(await readFile(file, "utf8")).toBe("long");
    // trusted.* from an image would steer overlayfs on the host: dropped; user.* kept.
    const attrs = spawnSync("getfattr", ["-d", "-m", "-", file], { encoding: "utf8" }).stdout;
    expect(attrs).toContain('user.note="hi"');
    expect(attrs).not.toContain("trusted.");
  });
});
