// Context packing: the tar format of docs/api.md (and that sbxd accepts it), determinism of the
// digest, Docker's source shapes, globs, .sbxignore, missing sources, and URL downloads.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tar from "tar";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { Image } from "./image.js";
import { packCopyStep, type PackedContext } from "./image-context.js";
import { IgnoreRules } from "./sbxignore.js";

const root = mkdtempSync(join(tmpdir(), "sbx-ctx-test-"));
let ctx: string;
let n = 0;
afterAll(() => rmSync(root, { recursive: true, force: true }));
beforeEach(() => {
  ctx = join(root, `c${++n}`);
  mkdirSync(join(ctx, "scripts", "lib"), { recursive: true });
  writeFileSync(join(ctx, "scripts", "prepare.py"), "print('prepare')\n");
  writeFileSync(join(ctx, "scripts", "lib", "util.py"), "X = 1\n");
  writeFileSync(join(ctx, "run.sh"), "#!/bin/sh\n", { mode: 0o755 });
  writeFileSync(join(ctx, "a.txt"), "a");
  writeFileSync(join(ctx, "b.txt"), "b");
});

async function pack(build: (img: Image) => Image, dir = ctx): Promise<PackedContext> {
  const step = build(new Image("t")).steps[0]!;
  if (step.op !== "copy" && step.op !== "add") throw new Error("not a copy step");
  return packCopyStep(step, 0, {
    contextDir: dir,
    tmpDir: mkdtempSync(join(root, "tmp-")),
    ignore: await IgnoreRules.load(dir),
  });
}

function entries(file: string) {
  const out: Array<Record<string, unknown>> = [];
  tar.t({
    file,
    sync: true,
    onReadEntry: (e) =>
      out.push({
        path: e.path,
        type: e.type,
        mode: e.mode,
        mtime: e.mtime?.getTime(),
        uid: e.uid,
        gid: e.gid,
        uname: e.uname,
        linkpath: e.linkpath || undefined,
        size: e.size,
      }),
  });
  return out;
}

describe("context tars", () => {
  // That sbxd takes them (its upload check): image-build.test.ts, which uploads such contexts.
  it("packs entries <i>/<name>, sorted, mtime 0, uid/gid 0, modes kept", async () => {
    const p = await pack((i) => i.copy(["scripts/", "run.sh"], "/opt/app/"));
    expect(p.sources).toEqual([
      { name: "scripts", type: "dir" },
      { name: "run.sh", type: "file" },
    ]);
    const list = entries(p.file);
    expect(list.map((e) => e.path)).toEqual([
      "0/scripts/",
      "0/scripts/lib/",
      "0/scripts/lib/util.py",
      "0/scripts/prepare.py",
      "1/run.sh",
    ]);
    for (const e of list) expect(e).toMatchObject({ mtime: 0, uid: 0, gid: 0, uname: "" });
    expect(list.at(-1)).toMatchObject({ type: "File", mode: 0o755, size: 10 });
    expect(p.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it("gives the same digest for the same files, also after a touch, and another for new content or mode", async () => {
    const build = (i: Image) => i.copy("scripts", "/s");
    const first = await pack(build);
    expect((await pack(build)).digest).toBe(first.digest);
    utimesSync(join(ctx, "scripts", "prepare.py"), new Date(2030, 1, 1), new Date(2030, 1, 1));
    expect((await pack(build)).digest).toBe(first.digest);
    writeFileSync(join(ctx, "scripts", "prepare.py"), "print('changed')\n");
    const changed = await pack(build);
    expect(changed.digest).not.toBe(first.digest);
    chmodSync(join(ctx, "scripts", "prepare.py"), 0o700);
    expect((await pack(build)).digest).not.toBe(changed.digest);
  });

  it("keeps symlinks inside a directory as links and follows a symlink given as the source", async () => {
    symlinkSync("prepare.py", join(ctx, "scripts", "latest.py"));
    symlinkSync("a.txt", join(ctx, "alias.txt"));
    const dir = entries((await pack((i) => i.copy("scripts", "/s"))).file);
    expect(dir.find((e) => e.path === "0/scripts/latest.py")).toMatchObject({
      type: "SymbolicLink",
      linkpath: "prepare.py",
    });
    const top = await pack((i) => i.copy("alias.txt", "/x"));
    expect(entries(top.file)).toEqual([expect.objectContaining({ path: "0/alias.txt", type: "File", size: 1 })]);
  });

  it("refuses a source that leads outside the context through a symlink (its own or a parent's)", async () => {
    const outside = join(root, `outside-${n}`);
    mkdirSync(outside);
    writeFileSync(join(outside, "secret"), "host secret");
    symlinkSync(join(outside, "secret"), join(ctx, "leak"));
    symlinkSync(outside, join(ctx, "leakdir"));
    symlinkSync(`../outside-${n}`, join(ctx, "leakrel"));
    for (const src of ["leak", "leakdir", "leakdir/secret", "leakrel/secret", "leak*"]) {
      await expect(
        pack((i) => i.copy(src, "/x")),
        src,
      ).rejects.toMatchObject({
        code: "invalid_argument",
        message: expect.stringContaining("outside the build context"),
      });
    }
  });

  it("packs long and non-ASCII names with a PAX header", async () => {
    const long = `${"d".repeat(120)}/${"é".repeat(80)}.txt`;
    mkdirSync(join(ctx, "deep", "d".repeat(120)), { recursive: true });
    writeFileSync(join(ctx, "deep", long), "x");
    expect(entries((await pack((i) => i.copy("deep", "/d"))).file).map((e) => e.path)).toContain(`0/deep/${long}`);
  });
});

describe("sources", () => {
  it("follows Docker's shapes: a file, a directory (with or without /), the context itself", async () => {
    expect((await pack((i) => i.copy("a.txt", "/a"))).sources).toEqual([{ name: "a.txt", type: "file" }]);
    expect((await pack((i) => i.copy("scripts/lib/", "/l"))).sources).toEqual([{ name: "lib", type: "dir" }]);
    const all = await pack((i) => i.copy(".", "/app"));
    expect(all.sources).toEqual([{ name: `c${n}`, type: "dir" }]);
    expect(entries(all.file).map((e) => e.path)).toContain(`0/c${n}/scripts/lib/util.py`);
  });

  it("expands a glob to one source per match, sorted", async () => {
    const p = await pack((i) => i.copy(["*.txt", "scripts/**/*.py"], "/dst/"));
    expect(p.sources.map((s) => s.name)).toEqual(["a.txt", "b.txt", "util.py", "prepare.py"]);
    expect(entries(p.file).map((e) => e.path)).toEqual(["0/a.txt", "1/b.txt", "2/util.py", "3/prepare.py"]);
  });

  it("names the pattern or path and the step's line when nothing is there", async () => {
    await expect(pack((i) => i.copy("*.md", "/d/"))).rejects.toThrow(
      /step 1 \(COPY \*\.md \/d\/ at packages\/sdk\/src\/image-context\.test\.ts:\d+:\d+\): nothing matches \*\.md/,
    );
    await expect(pack((i) => i.copy("missing/", "/d/"))).rejects.toMatchObject({
      code: "invalid_argument",
      message: expect.stringMatching(/image-context\.test\.ts:\d+.*missing\/: no such file or directory/),
    });
    await expect(pack((i) => i.copy("../outside", "/d/"))).rejects.toThrow(/outside the build context/);
  });

  it("leaves out what .sbxignore names, and refuses to copy an ignored path explicitly", async () => {
    writeFileSync(join(ctx, ".sbxignore"), "# comment\n*.txt\n!b.txt\nlib/\n");
    const p = await pack((i) => i.copy(".", "/app"));
    const paths = entries(p.file).map((e) => String(e.path).replace(/^0\/[^/]+\//, ""));
    expect(paths).toEqual(expect.arrayContaining([".sbxignore", "b.txt", "run.sh", "scripts/prepare.py"]));
    expect(paths).not.toContain("a.txt");
    expect(paths.some((x) => x.includes("lib"))).toBe(false);
    expect((await pack((i) => i.copy("*.txt", "/d/"))).sources.map((s) => s.name)).toEqual(["b.txt"]);
    await expect(pack((i) => i.copy("a.txt", "/a"))).rejects.toThrow(/excluded by .*\.sbxignore/);
  });

  it("downloads URLs for add(), named by the last path component, mode 0600", async () => {
    const server = createServer((req, res) =>
      req.url === "/files/tool.bin" ? res.end("binary!") : res.writeHead(404).end(),
    );
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const p = await pack((i) => i.add(`${base}/files/tool.bin`, "/usr/local/bin/"));
      expect(p.sources).toEqual([{ name: "tool.bin", type: "file" }]);
      expect(entries(p.file)).toEqual([expect.objectContaining({ path: "0/tool.bin", mode: 0o600, size: 7 })]);
      await expect(pack((i) => i.add(`${base}/nope.tgz`, "/x/"))).rejects.toThrow(
        /cannot download .*nope\.tgz: HTTP 404/,
      );
    } finally {
      server.close();
    }
  });
});

describe("IgnoreRules", () => {
  it("follows gitignore: anchoring, directories only, **, negation", () => {
    const r = new IgnoreRules("/build\nnode_modules/\n**/*.log\n!keep.log\ndocs/**/draft?.md\n");
    expect(r.ignores("build", true)).toBe(true);
    expect(r.ignores("src/build", true)).toBe(false);
    expect(r.ignores("a/node_modules", true)).toBe(true);
    expect(r.ignores("node_modules", false)).toBe(false);
    expect(r.ignores("x/y/z.log", false)).toBe(true);
    expect(r.ignores("x/keep.log", false)).toBe(false);
    expect(r.ignores("docs/a/b/draft1.md", false)).toBe(true);
    expect(r.ignoresWithParents("build/out/x.js", false)).toBe(true);
  });
});
