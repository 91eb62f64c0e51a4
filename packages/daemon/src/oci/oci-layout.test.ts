// Export and import of hand-made overlay layers (a whiteout, an opaque dir, shifted owners, a
// hard link, a setuid file), checked with skopeo and umoci, then imported back and compared.
import { lstatSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LayerStore } from "../layers/layer-store.js";
import { exportLayout, type ExportSource } from "./export.js";
import { importImage } from "./import.js";
import { readLayout } from "./layout.js";
import { makeLayers, memStore, sh, treeHash, UID } from "./testing/layers-fixture.js";

const isRoot = process.getuid?.() === 0;

describe.runIf(isRoot)("OCI layout export and import", () => {
  let root: string;
  let src: ExportSource;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "sbx-oci-"));
    src = makeLayers(root);
  });
  afterAll(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  it("writes a layout that skopeo reads and umoci unpacks with whiteouts applied and owners unshifted", async () => {
    const out = join(root, "layout");
    const r = await exportLayout(src, out);
    expect(r.layers).toHaveLength(2);
    const info = JSON.parse(sh("skopeo", ["inspect", "--config", `oci:${out}:1`])) as {
      config: { Env: string[]; WorkingDir: string; User: string; Entrypoint: string[] };
    };
    expect(info.config).toMatchObject({
      Env: ["PATH=/bin", "A=1"],
      WorkingDir: "/home/app",
      User: "1000",
      Entrypoint: ["/bin/sh"],
    });
    const layerList = sh("tar", ["-tzvf", join(out, "blobs/sha256", r.layers[1]!.digest.slice(7))]);
    expect(layerList).toContain("etc/.wh.gone");
    expect(layerList).toContain("data/.wh..wh..opq");
    const bundle = join(root, "bundle");
    sh("umoci", ["unpack", "--image", `${out}:1`, bundle]);
    const fs = join(bundle, "rootfs");
    expect(readFileSync(join(fs, "etc/hello"), "utf8")).toBe("hello\n");
    expect(() => lstatSync(join(fs, "etc/gone"))).toThrow();
    expect(() => lstatSync(join(fs, "data/old"))).toThrow();
    expect(readFileSync(join(fs, "data/new"), "utf8")).toBe("new\n");
    expect(lstatSync(join(fs, "home/app")).uid).toBe(1000);
    expect(lstatSync(join(fs, "etc/hello")).uid).toBe(0);
    expect(lstatSync(join(fs, "suid")).mode & 0o7777).toBe(0o4755);
    expect(lstatSync(join(fs, "etc/hello-link")).ino).toBe(lstatSync(join(fs, "etc/hello")).ino);
  });

  it("exports the same bytes twice (stable digests for push)", async () => {
    const a = await exportLayout(src, join(root, "again-a"));
    const b = await exportLayout(src, join(root, "again-b"));
    expect(a.manifest.digest).toBe(b.manifest.digest);
  });

  it("imports its own export back into identical overlay layers", async () => {
    const out = join(root, "layout2");
    await exportLayout(src, out);
    const layers = new LayerStore(join(root, "layers"));
    const store = memStore();
    const img = await importImage(
      await readLayout(out),
      { layers, store, uidBase: UID },
      { project: "p", name: "t", tag: "1", replace: false, source: "oci" },
    );
    expect(store.images).toHaveLength(1);
    expect(img.config).toMatchObject({
      workingDir: "/home/app",
      user: "1000",
      entrypoint: ["/bin/sh"],
      cmd: ["-c", "true"],
    });
    const up = img.layers[0]!.dir;
    const wh = lstatSync(join(up, "etc/gone"));
    expect(wh.isCharacterDevice() && wh.rdev === 0).toBe(true);
    expect(sh("getfattr", ["--only-values", "-n", "trusted.overlay.opaque", join(up, "data")])).toBe("y");
    expect(lstatSync(join(img.baseDir, "home/app")).uid).toBe(UID + 1000);
    expect(lstatSync(join(img.baseDir, "abs-link")).isSymbolicLink()).toBe(true);
    // Same trees: the layer digests (canonical tars) match the originals'.
    // Same trees (names, types, modes, owners, mtimes to the second, contents, links; xattrs checked above).
    expect(treeHash(img.baseDir)).toBe(treeHash(src.layers[0]!.dir));
    expect(treeHash(up)).toBe(treeHash(src.layers[1]!.dir));
  });
});
