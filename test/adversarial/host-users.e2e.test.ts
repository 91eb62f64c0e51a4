// Attacks by other users of the host (F1, F2 of the second security round): a sandbox plants a
// setuid shell for a host user to run, host users walk the data dir for sandboxes' files, layers
// and the store's secrets, and sandboxes that share a uid range reach each other's files and
// kernel budgets. Each asserts the refusal, with `nobody` as the host user.
import { spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { Sandbox } from "@sbx-sh/sdk";
import { useSandboxes } from "../fixtures.js";
import { testDaemonRoot } from "../harness.js";
import { sh } from "./kit.js";

const DATA = join(testDaemonRoot("shared"), "data");
const NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];
const sandbox = useSandboxes();
let a: Sandbox;
let b: Sandbox;

beforeAll(async () => {
  [a, b] = await Promise.all([sandbox(), sandbox()]);
  // The attacker's setuid copy of the shell, owned by the sandbox's root.
  await must(a, "cp /bin/dash /tmp/sh && chmod 4755 /tmp/sh && echo secret > /tmp/secret && chmod 600 /tmp/secret");
});

async function must(sb: Sandbox, script: string): Promise<string> {
  const r = await sh(sb, script);
  expect(r.exitCode, r.stderr).toBe(0);
  return r.stdout;
}

function asNobody(args: string[]): { status: number | null; out: string } {
  const r = spawnSync(NOBODY[0]!, [...NOBODY.slice(1), ...args], { encoding: "utf8" });
  return { status: r.status, out: r.stdout + r.stderr };
}

/** Every extended attribute of a path (names and values), as getfattr dumps them. */
function xattrs(path: string): string {
  const r = spawnSync("getfattr", ["--absolute-names", "-d", "-m", "-", "-e", "hex", path], { encoding: "utf8" });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

/** The first host uid of a sandbox's range, from its own uid_map ("0 <host> <count>"). */
async function rangeOf(sb: Sandbox): Promise<{ base: number; count: number }> {
  const [inside, base, count] = (await must(sb, "cat /proc/self/uid_map")).trim().split(/\s+/).map(Number);
  expect(inside).toBe(0);
  return { base: base!, count: count! };
}

describe("host users", () => {
  it("cannot enter the data dir, a sandbox's files, the layers or the store", () => {
    const planted = join(DATA, "sandboxes", a.id, "rootfs", "tmp");
    for (const path of [join(DATA, "sandboxes"), join(DATA, "layers"), join(DATA, "sbx.db"), planted]) {
      const r = asNobody(["stat", path]);
      expect(r.status, `nobody could stat ${path}`).not.toBe(0);
      expect(r.out).toMatch(/Permission denied/);
    }
    // Not even a listing: the data dir is 0700 and no ACL opens it ("uid ranges" below).
    expect(asNobody(["ls", DATA]).status).not.toBe(0);
    expect(statSync(DATA).mode & 0o007).toBe(0);
    // And the secrets under it are the daemon's alone even if a parent were opened up.
    for (const f of ["sbx.db", "port-token.key"]) expect(statSync(join(DATA, f)).mode & 0o777).toBe(0o600);
  });

  it("gain nothing from a setuid file a sandbox planted, even handed an open descriptor", async () => {
    const planted = join(DATA, "sandboxes", a.id, "rootfs", "tmp", "sh");
    expect(statSync(planted).mode & 0o4000).toBe(0o4000);
    // The root of the sandbox's filesystem is nosuid,nodev on the host.
    const mounts = readFileSync("/proc/self/mountinfo", "utf8").split("\n");
    const root = mounts.find((l) => l.split(" ")[4] === join(DATA, "sandboxes", a.id, "rootfs"));
    expect(root, "the sandbox's root mount").toBeDefined();
    expect(root!.split(" ")[5]!.split(",")).toEqual(expect.arrayContaining(["nosuid", "nodev"]));
    // A file descriptor passes any directory permission: exec through it as nobody (dash -p keeps
    // a setuid euid). On a nosuid mount the kernel ignores the bit, so the euid stays nobody's.
    const fd = openSync(planted, "r");
    try {
      const status = await new Promise<string>((resolve, reject) => {
        const child = spawn(
          NOBODY[0]!,
          [
            ...NOBODY.slice(1),
            "/proc/self/fd/3",
            "-p",
            "-c",
            'while read l; do case $l in Uid:*) echo "$l";; esac; done < /proc/self/status',
          ],
          { stdio: ["ignore", "pipe", "pipe", fd] },
        );
        let out = "";
        child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
        child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
        child.on("error", reject);
        child.on("close", () => resolve(out));
      });
      expect(status.trim().split(/\s+/)).toEqual(["Uid:", "65534", "65534", "65534", "65534"]);
    } finally {
      closeSync(fd);
    }
  });
});

describe("uid ranges", () => {
  it("cannot pass the data dir: no sandbox's range reaches its own or another sandbox's dir from the host", async () => {
    const [ra, rb] = await Promise.all([rangeOf(a), rangeOf(b)]);
    for (const r of [ra, rb]) {
      const as = ["setpriv", `--reuid=${r.base}`, `--regid=${r.base}`, "--clear-groups"];
      for (const path of [
        join(DATA, "sandboxes"),
        join(DATA, "sandboxes", a.id, "rootfs"),
        join(DATA, "sandboxes", b.id),
      ]) {
        const st = spawnSync(as[0]!, [...as.slice(1), "stat", path], { encoding: "utf8" });
        expect(st.status, `uid ${r.base} could stat ${path}`).not.toBe(0);
        expect(st.stderr).toMatch(/Permission denied/);
      }
    }
    // Each sandbox's own dir: searchable by its own root group only, nothing for others.
    const st = statSync(join(DATA, "sandboxes", a.id));
    expect([st.uid, st.gid, st.mode & 0o777]).toEqual([0, ra.base, 0o710]);
  });

  it("need no per-sandbox entry on the shared dirs, however many sandboxes live", async () => {
    // Each live sandbox once added an ACL entry here; ext4 keeps them in one xattr block, which
    // ran out at ~380 sandboxes. Now the shared dirs carry no ACL at all, with 2 or 6 sandboxes.
    const shared = [DATA, join(DATA, "sandboxes")];
    const before = shared.map(xattrs);
    const more = await Promise.all([sandbox(), sandbox(), sandbox(), sandbox()]);
    for (const sb of more) expect((await sh(sb, "echo up")).stdout.trim()).toBe("up");
    const after = shared.map(xattrs);
    expect(after).toEqual(before);
    for (const x of after) expect(x).not.toMatch(/posix_acl/);
    for (const path of shared) expect(statSync(path).mode & 0o777).toBe(0o700);
  });

  it("are disjoint between sandboxes, and apart from host accounts and the layers' storage range", async () => {
    const [ra, rb] = await Promise.all([rangeOf(a), rangeOf(b)]);
    expect(ra.count).toBe(65536);
    expect(rb.count).toBe(65536);
    expect(ra.base + ra.count <= rb.base || rb.base + rb.count <= ra.base).toBe(true);
    const taken: Array<[number, number]> = [[100000, 65536]]; // the storage range (SBX_UID_BASE)
    for (const f of ["/etc/subuid", "/etc/subgid"]) {
      for (const l of (existsSync(f) ? readFileSync(f, "utf8") : "").split("\n").filter(Boolean)) {
        const [, start, count] = l.split(":").map(Number);
        taken.push([start!, count!]);
      }
    }
    for (const l of readFileSync("/etc/passwd", "utf8").split("\n").filter(Boolean))
      taken.push([Number(l.split(":")[2]), 1]);
    for (const r of [ra, rb])
      for (const [start, count] of taken)
        expect(start + count <= r.base || r.base + r.count <= start, `range ${r.base} overlaps ${start}+${count}`).toBe(
          true,
        );
    // Files keep their owner's range: a's root-owned files are not b's root's (seen from the host).
    const st = statSync(join(DATA, "sandboxes", a.id, "rootfs", "tmp", "secret"));
    expect(st.uid).toBe(ra.base);
  });
});
