// WORKDIR and small COPYs written on the host: over real layer directories, the plan holds what a
// sandbox's mkdir -p / COPY would leave in the upper dir, and falls back (null) wherever the host
// cannot model it exactly: a symlink on the way, a file where a directory must be, chown by name,
// archives to extract, contexts with links or too big.
import { mkdir, mkdtemp, rm, stat, symlink, writeFile, readFile, chmod, chown } from "node:fs/promises";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { CopyStep } from "@sbx-sh/protocol";
import { writeTar, type TarEntry } from "../runtime/testing/memory-tar.js";
import { planCopy, planWorkdir, SMALL_COPY_BYTES } from "./host-step.js";

let root: string;
let base: string;
let upper: string;
let out: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "sbx-host-step-"));
  [base, upper, out] = ["base", "upper", "out"].map((d) => join(root, d)) as [string, string, string];
  for (const d of [base, upper, out]) await mkdir(d);
  await mkdir(join(base, "tmp"));
  await chmod(join(base, "tmp"), 0o1777);
  await mkdir(join(base, "usr/local"), { recursive: true });
  await symlink("/etc", join(base, "usr/local/bin"));
  await mkdir(join(base, "srv"));
  await writeFile(join(base, "etc-file"), "x");
  // The upper layer: /opt owned by 5:5 mode 0700, /srv deleted (a whiteout).
  await mkdir(join(upper, "opt"));
  await chown(join(upper, "opt"), 5, 5);
  await chmod(join(upper, "opt"), 0o700);
  execFileSync("mknod", [join(upper, "srv"), "c", "0", "0"]);
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});
const lowers = (): string[] => [upper, base];
const attrs = async (p: string): Promise<string> => {
  const st = await stat(join(out, p));
  return `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
};

describe("WORKDIR on the host", () => {
  it("creates missing directories (owned by the sandbox's root) and copies up the existing ones above them", async () => {
    // Layers hold host ids: the sandbox's root is uid 100000 here; the copied-up dir keeps its ids.
    const plan = await planWorkdir(lowers(), "/opt/app/x", 100000);
    await plan!.write(out);
    expect([await attrs("opt"), await attrs("opt/app"), await attrs("opt/app/x")]).toEqual([
      "700 5:5",
      "755 100000:100000",
      "755 100000:100000",
    ]);
  });

  it("writes nothing for a directory that exists, and sees through whiteouts", async () => {
    expect((await planWorkdir(lowers(), "/tmp", 0))!.nodes.size).toBe(0);
    const plan = await planWorkdir(lowers(), "/srv/www", 0);
    expect([...plan!.nodes.keys()].sort()).toEqual(["/srv", "/srv/www"]);
  });

  it("leaves symlinks and files on the way to a sandbox", async () => {
    expect(await planWorkdir(lowers(), "/usr/local/bin/app", 0)).toBeNull();
    expect(await planWorkdir(lowers(), "/etc-file/app", 0)).toBeNull();
  });
});

function step(sources: CopyStep["sources"], dest: string, extra: Partial<CopyStep> = {}): CopyStep {
  return { op: "copy", context: "sha256:x", sources, dest, ...extra };
}
const ctx = (entries: TarEntry[]) => () => Readable.from([writeTar(entries)]);
const files: TarEntry[] = [
  { name: "0/app.txt", type: "file", mode: 0o644, data: Buffer.from("app\n") },
  { name: "1/src", type: "directory", mode: 0o750 },
  { name: "1/src/main.sh", type: "file", mode: 0o755, data: Buffer.from("#!/bin/sh\n") },
];

describe("COPY on the host", () => {
  it("places files and directory contents with Docker's rules, chown and chmod included", async () => {
    const s = step(
      [
        { name: "app.txt", type: "file" },
        { name: "src", type: "dir" },
      ],
      "/opt/app/",
      { chown: "1000:1001" },
    );
    const plan = await planCopy(lowers(), s, { dest: "/opt/app", dirDest: true, uidBase: 0 }, ctx(files));
    await plan!.write(out);
    expect(await readFile(join(out, "opt/app/app.txt"), "utf8")).toBe("app\n");
    expect(await readFile(join(out, "opt/app/main.sh"), "utf8")).toBe("#!/bin/sh\n");
    expect([await attrs("opt"), await attrs("opt/app"), await attrs("opt/app/main.sh")]).toEqual([
      "700 5:5",
      "755 0:0",
      "755 1000:1001",
    ]);
    const single = step([{ name: "app.txt", type: "file" }], "/etc/app.conf", { chmod: "600" });
    const p2 = await planCopy(lowers(), single, { dest: "/etc/app.conf", dirDest: false, uidBase: 0 }, ctx(files));
    expect([...p2!.nodes.entries()].map(([k, n]) => `${k} ${n.kind} ${n.mode.toString(8)}`)).toEqual([
      "/etc dir 755",
      "/etc/app.conf file 600",
    ]);
  });

  it("copies a file into an existing directory named without a slash", async () => {
    const plan = await planCopy(
      lowers(),
      step([{ name: "app.txt", type: "file" }], "/tmp"),
      { dest: "/tmp", dirDest: false, uidBase: 0 },
      ctx(files),
    );
    expect([...plan!.nodes.keys()]).toEqual(["/tmp", "/tmp/app.txt"]);
    expect(plan!.nodes.get("/tmp")!.mode).toBe(0o1777);
  });

  it("leaves to a sandbox what it cannot model exactly", async () => {
    const f = [{ name: "app.txt", type: "file" as const }];
    const cases: Array<[CopyStep, string, TarEntry[]]> = [
      [step(f, "/usr/local/bin/app"), "/usr/local/bin/app", files],
      [step(f, "/etc-file/x"), "/etc-file/x", files],
      [step(f, "/srv2", { chown: "app:app" }), "/srv2", files],
      [step([{ name: "a.tgz", type: "file", extract: true }], "/x/"), "/x", files],
      [step(f, "/x"), "/x", [{ name: "0/app.txt", type: "symlink", linkname: "/etc/shadow" }]],
      [step(f, "/x"), "/x", [{ name: "0/app.txt", type: "file", data: Buffer.alloc(SMALL_COPY_BYTES + 1) }]],
    ];
    for (const [s, dest, entries] of cases)
      expect(await planCopy(lowers(), s, { dest, dirDest: false, uidBase: 0 }, ctx(entries))).toBeNull();
    // A directory where the file would go.
    const onDir = step([{ name: "tmp", type: "file" }], "/");
    expect(
      await planCopy(
        lowers(),
        onDir,
        { dest: "/", dirDest: true, uidBase: 0 },
        ctx([{ name: "0/tmp", type: "file", data: Buffer.from("x") }]),
      ),
    ).toBeNull();
  });
});
