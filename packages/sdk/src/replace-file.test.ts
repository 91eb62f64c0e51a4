// replaceFile and recoverAside on a real directory: each branch (nothing there, an old file, a
// link, a failed rename, a folder by the aside name) and each leftover a killed replace can leave
// (the path free with the old file aside; both there) ends with the newest file at the path.
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { asidePath, recoverAside, replaceFile } from "./replace-file.js";

describe("replaceFile", () => {
  let dir: string;
  let path: string;
  let temp: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "sbx-replace-file-"));
    path = join(dir, "x.tar");
    temp = join(dir, ".x.tar.abc.part");
    await writeFile(temp, "new");
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const names = async () => (await readdir(dir)).sort();

  it("names the aside file after the target, hidden beside it", () => {
    expect(asidePath("/a/b/x.tar")).toBe("/a/b/.x.tar.sbx-old");
  });

  it("moves the new file to a free path", async () => {
    await replaceFile(temp, path);
    expect(await readFile(path, "utf8")).toBe("new");
    expect(await names()).toEqual(["x.tar"]);
  });

  it("replaces an old file, leaving neither it nor the temp file", async () => {
    await writeFile(path, "old");
    await replaceFile(temp, path);
    expect(await readFile(path, "utf8")).toBe("new");
    expect(await names()).toEqual(["x.tar"]);
  });

  it("puts the old file back when the new one cannot be moved in", async () => {
    await writeFile(path, "old");
    await rm(temp);
    await expect(replaceFile(temp, path)).rejects.toMatchObject({ code: "ENOENT" });
    expect(await readFile(path, "utf8")).toBe("old");
    expect(await names()).toEqual(["x.tar"]);
  });

  it("replaces a symlink itself, not the file it points to", async () => {
    await writeFile(join(dir, "target"), "kept");
    await symlink("target", path);
    await replaceFile(temp, path);
    expect(await readFile(path, "utf8")).toBe("new");
    expect((await lstat(path)).isFile()).toBe(true);
    expect(await readFile(join(dir, "target"), "utf8")).toBe("kept");
    expect(await names()).toEqual(["target", "x.tar"]);
  });

  it("renames over the old file when a folder has the aside name, leaving the folder", async () => {
    await writeFile(path, "old");
    await mkdir(asidePath(path));
    await writeFile(join(asidePath(path), "f"), "theirs");
    await replaceFile(temp, path);
    expect(await readFile(path, "utf8")).toBe("new");
    expect(await readFile(join(asidePath(path), "f"), "utf8")).toBe("theirs");
    expect(await names()).toEqual([".x.tar.sbx-old", "x.tar"]);
  });
});

describe("recoverAside", () => {
  let dir: string;
  let path: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "sbx-recover-aside-"));
    path = join(dir, "x.tar");
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("does nothing when nothing was left", async () => {
    await writeFile(path, "current");
    expect(await recoverAside(path)).toBeUndefined();
    expect(await readFile(path, "utf8")).toBe("current");
  });

  it("puts back the old file a replace killed between its renames left aside", async () => {
    await writeFile(asidePath(path), "old");
    expect(await recoverAside(path)).toBe("restored");
    expect(await readFile(path, "utf8")).toBe("old");
    expect(await readdir(dir)).toEqual(["x.tar"]);
  });

  it("removes an old file left aside after the new one was moved in", async () => {
    await writeFile(asidePath(path), "old");
    await writeFile(path, "new");
    expect(await recoverAside(path)).toBe("removed");
    expect(await readFile(path, "utf8")).toBe("new");
    expect(await readdir(dir)).toEqual(["x.tar"]);
  });

  it("leaves alone what is not a regular file under the aside name", async () => {
    await symlink("elsewhere", asidePath(path));
    expect(await recoverAside(path)).toBeUndefined();
    expect(await readlink(asidePath(path))).toBe("elsewhere");
    await expect(lstat(path)).rejects.toMatchObject({ code: "ENOENT" });
  });
});
