// LayerStore: committing a layer from either form a runtime exports (a directory, a tar stream), and
// the sweep: what a daemon killed mid-commit leaves in the layers dir goes at the next start; listed
// layers, base image dirs and anything not named like a layer stay.
import { mkdtemp, mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { writeTar } from "../runtime/testing/memory-tar.js";
import { LayerStore, tarFormArgs } from "./layer-store.js";
import { execFileSync } from "node:child_process";

let root: string | undefined;
afterEach(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

describe("LayerStore.sweep", () => {
  it("removes unlisted layer dirs and commit temp dirs, keeps listed layers and everything else", async () => {
    root = await mkdtemp(join(tmpdir(), "sbx-layers-"));
    const store = new LayerStore(root);
    const listed = store.dirFor("sha256:" + "a".repeat(64));
    const orphan = store.dirFor("sha256:" + "b".repeat(64));
    const base = join(root, "c".repeat(64));
    const ociUnpack = join(root, ".oci-0123456789ab");
    for (const d of [
      listed,
      orphan,
      `${orphan}.tmp-0123abcd`,
      `${orphan}.tmp-0123abcd.view`,
      ociUnpack,
      base,
      join(root, "notes"),
    ]) {
      await mkdir(d, { recursive: true });
      await writeFile(join(d, "f"), "x");
    }
    const removed = await store.sweep(new Set([listed]));
    expect(removed.sort()).toEqual(
      [orphan, `${orphan}.tmp-0123abcd`, `${orphan}.tmp-0123abcd.view`, ociUnpack]
        .map((d) => d.slice(root!.length + 1))
        .sort(),
    );
    expect((await readdir(root)).sort()).toEqual([listed.slice(root.length + 1), "c".repeat(64), "notes"].sort());
  });
});

describe("LayerStore.commit", () => {
  const key = "sha256:" + "d".repeat(64);

  it("commits a directory and a tar stream of the same files alike, without the helper dir", async () => {
    root = await mkdtemp(join(tmpdir(), "sbx-layers-"));
    const upper = join(root, "upper");
    await mkdir(join(upper, "app"), { recursive: true });
    await mkdir(join(upper, ".sbx"));
    await writeFile(join(upper, "app", "a.txt"), "A");
    const fromDir = await new LayerStore(join(root, "one")).commit({ kind: "directory", path: upper }, key);
    const tar = writeTar([
      { name: ".", type: "directory", mode: 0o755 },
      { name: ".sbx", type: "directory" },
      { name: "app", type: "directory" },
      { name: "app/a.txt", type: "file", data: Buffer.from("A") },
    ]);
    const fromTar = await new LayerStore(join(root, "two")).commit({ kind: "tar", stream: Readable.from([tar]) }, key);
    expect(await readFile(join(fromTar.dir, "app", "a.txt"), "utf8")).toBe("A");
    expect((await readdir(fromTar.dir)).sort()).toEqual(["app"]);
    expect((await readdir(fromDir.dir)).sort()).toEqual(["app"]);
    expect(fromTar.sizeBytes).toBeGreaterThan(0);
  });

  it("digests a directory's tar form beside the copy: the committed entries, less only the top-level helper dir", async () => {
    root = await mkdtemp(join(tmpdir(), "sbx-layers-"));
    const upper = join(root, "upper");
    await mkdir(join(upper, ".sbx"), { recursive: true });
    await mkdir(join(upper, "home", ".sbx"), { recursive: true });
    await writeFile(join(upper, ".sbx", "agent.sock"), "");
    await writeFile(join(upper, "home", ".sbx", "keep"), "K");
    await writeFile(join(upper, "a.txt"), "A");
    const names = (dir: string, exclude?: string[]) =>
      execFileSync("sh", ["-c", 'tar "$@" | tar -t', "sh", ...tarFormArgs(dir, exclude)], { encoding: "utf8" })
        .split("\n")
        .filter(Boolean)
        .sort();
    const digested = names(upper, [".sbx"]);
    expect(digested).toEqual(["./", "./a.txt", "./home/", "./home/.sbx/", "./home/.sbx/keep"]);
    const made = await new LayerStore(join(root, "layers")).commit({ kind: "directory", path: upper }, key);
    // The digest taken from the source names exactly what the committed dir holds.
    expect(names(made.dir)).toEqual(digested);
    expect(made.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(made.sizeBytes).toBeGreaterThan(0);
  });

  it("commits a tar stream padded far past its end marker, every time", async () => {
    // GNU tar exits once it reads the end marker, without reading the rest of its input: here an
    // 8 MiB record of zeros (`tar -b 16384`) that is still being written when tar is gone.
    root = await mkdtemp(join(tmpdir(), "sbx-layers-"));
    const src = join(root, "src");
    await mkdir(join(src, "app"), { recursive: true });
    await writeFile(join(src, "app", "a.txt"), "A");
    const tar = execFileSync("tar", ["-b", "16384", "--numeric-owner", "-C", src, "-cf", "-", "."], {
      maxBuffer: 64 << 20,
    });
    expect(tar.length).toBe(8 << 20);
    for (let i = 0; i < 5; i++) {
      const made = await new LayerStore(join(root, `l${i}`)).commit({ kind: "tar", stream: Readable.from([tar]) }, key);
      expect(await readFile(join(made.dir, "app", "a.txt"), "utf8")).toBe("A");
    }
  });

  it("leaves nothing behind when the tar stream fails", async () => {
    root = await mkdtemp(join(tmpdir(), "sbx-layers-"));
    const store = new LayerStore(join(root, "layers"));
    const cut = new Error("export cut off");
    const stream = Readable.from(
      (async function* () {
        yield writeTar([{ name: "a", type: "file", data: Buffer.from("A") }]).subarray(0, 512);
        throw cut;
      })(),
    );
    await expect(store.commit({ kind: "tar", stream }, key)).rejects.toBe(cut);
    expect(await readdir(join(root, "layers"))).toEqual([]);
  });
});

describe("LayerStore: a key whose dir is taken", () => {
  const key = "sha256:" + "e".repeat(64);

  it("commits under a fresh key, and never touches the layer already there, even when both run at once", async () => {
    root = await mkdtemp(join(tmpdir(), "sbx-layers-"));
    const store = new LayerStore(join(root, "layers"));
    const uppers = ["one", "two", "three"].map((n) => join(root!, n));
    for (const u of uppers) {
      await mkdir(u);
      await writeFile(join(u, "f"), u);
    }
    const first = await store.commit({ kind: "directory", path: uppers[0]! }, key);
    expect(first).toMatchObject({ key, dir: store.dirFor(key) });
    const [a, b] = await Promise.all(uppers.slice(1).map((u) => store.commit({ kind: "directory", path: u }, key)));
    expect(new Set([first.key, a!.key, b!.key]).size).toBe(3);
    expect(new Set([first.dir, a!.dir, b!.dir]).size).toBe(3);
    for (const [l, u] of [first, a!, b!].map((l, i) => [l, uppers[i]!] as const)) {
      expect(l.dir).toBe(store.dirFor(l.key));
      expect(await readFile(join(l.dir, "f"), "utf8")).toBe(u);
    }
    // The fresh keys' dirs are named like any layer: the sweep keeps them when listed, removes them when not.
    expect(await store.sweep(new Set([first.dir, a!.dir, b!.dir]))).toEqual([]);
  });

  it("adopts a layer whose key is already there by keeping that one (same key: same content)", async () => {
    root = await mkdtemp(join(tmpdir(), "sbx-layers-"));
    const store = new LayerStore(join(root, "layers"));
    const unpacked = async (n: string) => {
      const d = join(store.root, `.oci-${n.repeat(12)}`);
      await mkdir(d, { recursive: true });
      await writeFile(join(d, "f"), n);
      return d;
    };
    const first = await store.adopt(await unpacked("a"), key);
    const { ino } = await stat(first.dir);
    const again = await store.adopt(await unpacked("b"), key);
    expect(again).toMatchObject({ key, dir: first.dir });
    expect((await stat(again.dir)).ino).toBe(ino);
    expect(await readFile(join(first.dir, "f"), "utf8")).toBe("a");
    // Nothing else is left: no temp dir, no unpack dir.
    expect(await readdir(store.root)).toEqual([first.dir.slice(store.root.length + 1)]);
  });
});
