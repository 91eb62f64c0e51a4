// Hostile archives given to add(): absolute names, `..`, links that lead out and entries written
// through a link are refused before upload, in every compression add() unpacks.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { Header } from "tar";
import { afterAll, describe, expect, it } from "vitest";
import { archiveKind, escapeReason, listArchive } from "./archive-check.js";
import { Image } from "./image.js";
import { packCopyStep } from "./image-context.js";

const dir = mkdtempSync(join(tmpdir(), "sbx-archive-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type E = { path: string; type?: string; linkpath?: string; body?: string };

function tarOf(entries: E[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const body = Buffer.from(e.body ?? "");
    const h = new Header({
      path: e.path,
      type: (e.type ?? "File") as "File",
      linkpath: e.linkpath,
      size: body.length,
      mode: 0o644,
      uid: 0,
      gid: 0,
      mtime: new Date(0),
    });
    h.encode();
    blocks.push(h.block!, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

function compress(name: string, raw: Buffer): string {
  const file = join(dir, name);
  if (name.endsWith(".gz") || name.endsWith(".tgz")) writeFileSync(file, gzipSync(raw));
  else if (name.endsWith(".xz")) writeFileSync(file, spawnSync("xz", ["-c"], { input: raw }).stdout);
  else if (name.endsWith(".bz2")) writeFileSync(file, spawnSync("bzip2", ["-c"], { input: raw }).stdout);
  else writeFileSync(file, raw);
  return file;
}

async function addArchive(name: string, dest = "/opt/app/assets/") {
  const step = new Image("t").add(name, dest).steps[0]!;
  if (step.op !== "add") throw new Error("not add");
  return packCopyStep(step, 0, { contextDir: dir, tmpDir: mkdtempSync(join(dir, "tmp-")) });
}

const hostile: Array<[string, E[], RegExp]> = [
  ["absolute", [{ path: "/etc/cron.d/evil", body: "x" }], /"\/etc\/cron\.d\/evil".*absolute path/],
  ["dotdot", [{ path: "ok/../../../root/.ssh/authorized_keys", body: "x" }], /contains `\.\.`/],
  [
    "symlink-out",
    [{ path: "lib", type: "SymbolicLink", linkpath: "../../../etc" }],
    /symbolic link to \.\.\/\.\.\/\.\.\/etc, outside/,
  ],
  [
    "symlink-abs",
    [{ path: "passwd", type: "SymbolicLink", linkpath: "/etc/passwd" }],
    /symbolic link to \/etc\/passwd/,
  ],
  ["hardlink-out", [{ path: "shadow", type: "Link", linkpath: "../etc/shadow" }], /hard link to \.\.\/etc\/shadow/],
  [
    "through-link",
    [
      { path: "d", type: "SymbolicLink", linkpath: "sub" },
      { path: "d/x", body: "x" },
    ],
    /written through the symbolic link d/,
  ],
];

describe("add() of local archives", () => {
  it("recognises archives by name and marks them for unpacking", async () => {
    expect(["a.tar", "a.tar.gz", "a.tgz", "a.tar.bz2", "a.tar.xz", "a.TXZ", "a.zip", "a.gz"].map(archiveKind)).toEqual([
      "tar",
      "gzip",
      "gzip",
      "bzip2",
      "xz",
      "xz",
      null,
      null,
    ]);
    compress(
      "good.tar.gz",
      tarOf([
        { path: "data/", type: "Directory" },
        { path: "data/x.csv", body: "1,2" },
        { path: "data/latest", type: "SymbolicLink", linkpath: "x.csv" },
      ]),
    );
    expect((await addArchive("good.tar.gz")).sources).toEqual([{ name: "good.tar.gz", type: "file", extract: true }]);
  });

  for (const ext of [".tar", ".tar.gz", ".tar.bz2", ".tar.xz"]) {
    for (const [what, list, why] of hostile) {
      it(`refuses ${what} in a ${ext}`, async () => {
        compress(`${what}${ext}`, tarOf(list));
        const err = await addArchive(`${what}${ext}`).catch((e: unknown) => e);
        expect(err).toMatchObject({ code: "invalid_archive", details: { entry: list.at(-1)!.path } });
        expect((err as Error).message).toMatch(
          /^step 1 \(ADD .* at packages\/sdk\/src\/archive-check\.test\.ts:\d+:\d+\): refusing to unpack/,
        );
        expect((err as Error).message).toMatch(why);
      });
    }
  }

  it("says so when an archive cannot be read", async () => {
    writeFileSync(join(dir, "broken.tar.xz"), "not xz at all");
    await expect(addArchive("broken.tar.xz")).rejects.toMatchObject({
      code: "invalid_archive",
      message: expect.stringMatching(/not a readable xz tar archive/),
    });
    expect(await listArchive(compress("plain.tar", tarOf([{ path: "a", body: "1" }])), "tar")).toEqual([
      { path: "a", type: "File" },
    ]);
  });

  it("allows absolute links inside an absolute destination", () => {
    expect(
      escapeReason(
        { path: "cur", type: "SymbolicLink", linkpath: "/opt/app/assets/v1" },
        "/opt/app/assets/",
        new Set(),
      ),
    ).toBeNull();
    expect(
      escapeReason(
        { path: "cur", type: "SymbolicLink", linkpath: "/opt/app/assets-evil" },
        "/opt/app/assets",
        new Set(),
      ),
    ).toMatch(/outside/);
    expect(escapeReason({ path: "cur", type: "SymbolicLink", linkpath: "/opt/x" }, "assets/", new Set())).toMatch(
      /outside/,
    );
  });
});
