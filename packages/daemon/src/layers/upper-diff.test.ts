// copyChanges on real directories (as root: whiteouts are device nodes, opaque marks trusted.* xattrs).
import { execFileSync } from "node:child_process";
import {
  appendFileSync,
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { copyChanges, ctimeSettleMs, indexUpper, type UpperIndex } from "./upper-diff.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "sbx-upper-diff-"));
  dirs.push(d);
  return d;
}

function opaque(path: string): string {
  try {
    return execFileSync("getfattr", ["--only-values", "-n", "trusted.overlay.opaque", path], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
  } catch {
    return "";
  }
}

async function changes(upper: string, prev: UpperIndex): Promise<{ dest: string; next: UpperIndex | null }> {
  const dest = join(tmp(), "layer");
  mkdirSync(dest);
  return { dest, next: await copyChanges(upper, prev, dest) };
}

describe("ctimeSettleMs", () => {
  it("waits a tick only on kernels without fine-grained tmpfs ctimes", () => {
    expect(ctimeSettleMs("6.1.0-28-amd64")).toBe(11);
    expect(ctimeSettleMs("5.15.0")).toBe(11);
    expect(ctimeSettleMs("6.13.0")).toBe(0);
    expect(ctimeSettleMs("6.18.44-fc-v1300")).toBe(0);
    expect(ctimeSettleMs("7.0.1")).toBe(0);
  });
});

describe("copyChanges", () => {
  it("sees a write through a shared mmap on tmpfs, which changes neither ctime nor mtime", async () => {
    // Build uppers live on tmpfs: make this one there too. tmpfs maps a shared page writable on its
    // first read, so a write after a read (what databases do) never faults and never stamps a time.
    const up = mkdtempSync(join("/dev/shm", "sbx-upper-diff-"));
    dirs.push(up);
    writeFileSync(join(up, "db"), Buffer.alloc(4096, "a"));
    const before = lstatSync(join(up, "db"), { bigint: true });
    const index = (await indexUpper(up))!;
    await new Promise((r) => setTimeout(r, ctimeSettleMs() + 5));
    const py =
      "import mmap,os,sys; f=os.open(sys.argv[1],os.O_RDWR); m=mmap.mmap(f,4096); m[0]; m[0:2]=b'zz'; m.flush()";
    execFileSync("python3", ["-c", py, join(up, "db")]);
    const after = lstatSync(join(up, "db"), { bigint: true });
    expect(after.ctimeNs).toBe(before.ctimeNs); // what makes the digest necessary
    const { dest } = await changes(up, index);
    expect(readFileSync(join(dest, "db")).subarray(0, 3).toString()).toBe("zza");
  });

  it("copies changed entries with their parents, whiteouts gone paths, marks replaced dirs opaque", async () => {
    const up = tmp();
    mkdirSync(join(up, "a/deep"), { recursive: true });
    writeFileSync(join(up, "a/deep/f1"), "one");
    writeFileSync(join(up, "a/same"), "unchanged");
    writeFileSync(join(up, "b"), "bee");
    mkdirSync(join(up, "d"));
    writeFileSync(join(up, "d/x"), "old");
    mkdirSync(join(up, "k/k2"), { recursive: true });
    writeFileSync(join(up, "k/k2/y"), "gone");
    chmodSync(join(up, "a"), 0o750);
    const index = (await indexUpper(up))!;
    expect(index.size).toBe(10);

    // Right after the look: a same-tick change must still show (after the wait the builder makes).
    await new Promise((r) => setTimeout(r, ctimeSettleMs()));
    appendFileSync(join(up, "a/deep/f1"), "+two");
    writeFileSync(join(up, "a/new"), "new");
    rmSync(join(up, "b"));
    // The new d is made before the old one goes: a dir made after it may get its freed inode back
    // (ext4 reuses them), and is then rightly taken for the same dir (a whiteout for d/x, no opaque mark).
    mkdirSync(join(up, "d.new"));
    writeFileSync(join(up, "d.new/z"), "fresh");
    rmSync(join(up, "d"), { recursive: true });
    renameSync(join(up, "d.new"), join(up, "d"));
    rmSync(join(up, "k"), { recursive: true });
    const { dest, next } = await changes(up, index);

    expect(readFileSync(join(dest, "a/deep/f1"), "utf8")).toBe("one+two");
    expect(readFileSync(join(dest, "a/new"), "utf8")).toBe("new");
    expect(lstatSync(join(dest, "a")).mode & 0o777).toBe(0o750);
    expect(existsSync(join(dest, "a/same"))).toBe(false);
    const wb = lstatSync(join(dest, "b"));
    expect([wb.isCharacterDevice(), wb.rdev]).toEqual([true, 0]);
    expect(lstatSync(join(dest, "k")).isCharacterDevice()).toBe(true);
    expect(existsSync(join(dest, "d/x"))).toBe(false);
    expect(readFileSync(join(dest, "d/z"), "utf8")).toBe("fresh");
    expect(opaque(join(dest, "d"))).toBe("y");
    expect(opaque(join(dest, "a"))).toBe("");

    // The returned index is the new baseline: nothing changed since, so nothing but the root is copied.
    const again = await changes(up, next!);
    expect(execFileSync("find", [again.dest], { encoding: "utf8" }).trim().split("\n")).toEqual([again.dest]);
  });

  it("whiteouts a file that replaced nothing and gives no entry for an untouched tree", async () => {
    const up = tmp();
    mkdirSync(join(up, "keep/sub"), { recursive: true });
    writeFileSync(join(up, "keep/sub/file"), "k");
    writeFileSync(join(up, "top"), "t");
    const index = (await indexUpper(up))!;
    rmSync(join(up, "top"));
    const { dest } = await changes(up, index);
    expect(lstatSync(join(dest, "top")).isCharacterDevice()).toBe(true);
    expect(existsSync(join(dest, "keep"))).toBe(false);
  });

  it("handles names that look like options or hold newlines", async () => {
    const up = tmp();
    const index = (await indexUpper(up))!;
    writeFileSync(join(up, "--help"), "h");
    writeFileSync(join(up, "line\nbreak"), "n");
    const { dest } = await changes(up, index);
    expect(readFileSync(join(dest, "--help"), "utf8")).toBe("h");
    expect(readFileSync(join(dest, "line\nbreak"), "utf8")).toBe("n");
  });

  it("keeps every xattr of a changed file, file capabilities included, as the full copy of a first step does", async () => {
    const up = tmp();
    const index = (await indexUpper(up))!;
    writeFileSync(join(up, "ping"), "p");
    execFileSync("setcap", ["cap_net_raw+ep", join(up, "ping")]);
    execFileSync("setfattr", ["-n", "user.sbx", "-v", "kept", join(up, "ping")]);
    const { dest } = await changes(up, index);
    expect(execFileSync("getcap", [join(dest, "ping")], { encoding: "utf8" })).toContain("cap_net_raw=ep");
    const value = execFileSync("getfattr", ["--only-values", "-n", "user.sbx", join(dest, "ping")], {
      encoding: "utf8",
    });
    expect(value).toBe("kept");
  });
});
