// The CLI against sbxd on the fake runtime: output modes (table, --json, -q), errors and hints, exit
// codes, bad flag values, cp both ways, doctor, and the bin/sbx.js launcher (exec and run:
// cli-exec.test.ts).
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { VERSION } from "@sbx-sh/protocol";
import { TestDaemon } from "../../daemon/src/testing/test-daemon.js";
import { runCliCaptured, type CliResult } from "./testing/capture.js";

// `sbx doctor` runs `sbxd doctor --json`: a stand-in sbxd prints a fixed report (and exits 1, as sbxd does on a failure).
const REPORT = [
  { name: "crun", ok: true, detail: "crun 1.19" },
  { name: "cgroups", ok: false, detail: "cgroup v1 only", fix: "boot with systemd.unified_cgroup_hierarchy=1" },
];
vi.mock("./locate-daemon.js", () => ({
  sbxdCommand: () => [
    process.execPath,
    "-e",
    `console.log(${JSON.stringify(JSON.stringify(REPORT))}); process.exitCode = 1`,
  ],
}));

let fake: TestDaemon;
const work = mkdtempSync(join(tmpdir(), "sbx-cli-test-"));
const root = fileURLToPath(new URL("../../..", import.meta.url));

beforeAll(async () => {
  fake = await TestDaemon.start({ baseImages: ["debian-minimal", "python", "alpine"] });
});
afterAll(async () => {
  await fake.stop();
  rmSync(work, { recursive: true, force: true });
});
afterEach(() => vi.restoreAllMocks());

/** Runs the CLI in this process against the test daemon and captures what it prints. */
function sbx(...args: string[]): Promise<CliResult> {
  return runCliCaptured(fake.host, args);
}

const lastCreate = () =>
  JSON.parse(fake.requests.filter((r) => r.method === "POST" && r.url === "/v1/sandboxes").at(-1)!.body) as Record<
    string,
    unknown
  >;

describe("sbx new / ls / info / rm", () => {
  it("prints the id, or the object with --json, and sends only the flags given", async () => {
    const plain = await sbx("new");
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/^sb-\w+\n$/);
    expect(lastCreate()).toEqual({});
    const q = await sbx(
      "new",
      "-q",
      "--image",
      "python",
      "--cpus",
      "0.5",
      "--memory",
      "2g",
      "-e",
      "A=1",
      "-e",
      "B=x=y",
      "--no-internet",
      "--timeout",
      "0",
    );
    expect(q.stdout.trim()).toMatch(/^sb-\w+$/);
    expect(lastCreate()).toEqual({
      image: "python",
      cpus: 0.5,
      memoryMb: 2048,
      env: { A: "1", B: "x=y" },
      allowInternetAccess: false,
      timeoutSecs: 0,
    });
    const j = await sbx("new", "--json", "--name", "web");
    expect(JSON.parse(j.stdout)).toMatchObject({ name: "web", status: "running" });
    // Global flags also work before the command.
    expect(JSON.parse((await sbx("--json", "info", "web")).stdout)).toMatchObject({ name: "web" });
  });

  it("sets the egress policy with -A/-D on new, shows it in info, and changes it with update", async () => {
    const id = (
      await sbx("new", "-q", "-A", "198.18.0.1", "--allow-out", "198.19.0.0/16,198.18.0.2", "-D", "198.19.0.9")
    ).stdout.trim();
    expect(lastCreate()).toEqual({ allowOut: ["198.18.0.1", "198.19.0.0/16", "198.18.0.2"], denyOut: ["198.19.0.9"] });
    expect((await sbx("info", id)).stdout).toMatch(
      /allow out:\s+198\.18\.0\.1 198\.19\.0\.0\/16 198\.18\.0\.2\n.*deny out:\s+198\.19\.0\.9/,
    );
    const up = await sbx("update", id, "-D", "198.18.0.7");
    expect(up.code).toBe(0);
    const patch = fake.requests.filter((r) => r.method === "PATCH").at(-1)!;
    expect([patch.url, JSON.parse(patch.body)]).toEqual([`/v1/sandboxes/${id}/network`, { denyOut: ["198.18.0.7"] }]);
    expect(up.stdout).toMatch(/deny out:\s+198\.18\.0\.7/);
    await sbx("update", id, "--clear");
    expect(JSON.parse(fake.requests.filter((r) => r.method === "PATCH").at(-1)!.body)).toEqual({
      allowOut: [],
      denyOut: [],
    });
    expect((await sbx("update", id)).code).not.toBe(0);
  });

  it("rejects bad flag values before calling the daemon", async () => {
    const before = fake.requests.length;
    const r = await sbx("new", "--memory", "lots");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/expected megabytes/);
    expect(fake.requests.length).toBe(before);
  });

  it("says one clear thing about a bad number, for every numeric flag, before calling the daemon", async () => {
    const before = fake.requests.length;
    for (const args of [
      ["new", "--timeout", "1e99"],
      ["new", "--timeout", "99999999999999999999"],
      ["new", "--timeout", ""],
      ["new", "--timeout", "0x10"],
      ["new", "--timeout", "1.5"],
      ["new", "--pids", "1e3"],
      ["new", "--cpus", "1e400"],
      ["new", "--memory", "99999999999999999999g"],
      ["update", "sb-x", "--timeout", "1e99"],
      ["exec", "--timeout", "1e99", "sb-x", "true"],
      ["prune", "--older-than", "1e99"],
      ["project", "quota", "p", "--sandboxes", "1e99"],
    ]) {
      const r = await sbx(...args);
      // exec's own failures are 125: its 1 is the command's.
      expect(r.code, args.join(" ")).toBe(args[0] === "exec" ? 125 : 1);
      const lines = r.stderr.trim().split("\n");
      expect(lines.slice(1), r.stderr).toEqual(["(run with --help for usage)"]);
      expect(lines[0], args.join(" ")).toMatch(
        /^error: option '--[a-z-]+ <[^>]+>' argument '.*' is invalid\. .*expected /,
      );
    }
    expect((await sbx("new", "--timeout", "1e99")).stderr).toContain('"1e99"');
    expect(fake.requests.length).toBe(before);
  });

  it("lists as a table, ids with -q, an array with --json, terminated ones with -a", async () => {
    const id = (await sbx("new", "-q")).stdout.trim();
    const table = await sbx("ls");
    expect(table.stdout.split("\n")[0]).toMatch(/^ID\s+NAME\s+IMAGE\s+STATUS\s+CPUS\s+MEMORY\s+CREATED$/);
    expect(table.stdout).toContain(id);
    expect((await sbx("ls", "-q")).stdout.split("\n")).toContain(id);
    expect((await sbx("rm", id)).stdout).toBe(`${id}\n`);
    expect((await sbx("ls", "-q")).stdout.split("\n")).not.toContain(id);
    const all = JSON.parse((await sbx("ls", "-a", "--json")).stdout) as Array<{ id: string; status: string }>;
    expect(all.find((s) => s.id === id)?.status).toBe("terminated");
  });

  it("reports errors as `error:` (no second hint when it names the command to run), exit 1, and keeps going in rm", async () => {
    const r = await sbx("info", "ghost");
    expect(r).toMatchObject({ code: 1, stdout: "" });
    expect(r.stderr).toBe(
      'error: sandbox "ghost" does not exist in project default: list sandboxes with `sbx ls -a`\n',
    );
    const id = (await sbx("new", "-q")).stdout.trim();
    const rm = await sbx("rm", "ghost", id);
    expect(rm.code).toBe(1);
    expect(rm.stdout).toBe(`${id}\n`);
    expect(rm.stderr).toContain('error: sandbox "ghost" does not exist');
  });
});

describe("sbx cp", () => {
  it("copies trees and files both ways with docker cp's naming rules", async () => {
    const id = (await sbx("new", "-q")).stdout.trim();
    const src = join(work, "src");
    mkdirSync(join(src, "sub"), { recursive: true });
    writeFileSync(join(src, "sub", "a.txt"), "A");
    writeFileSync(join(work, "tool.sh"), "#!/bin/sh\n", { mode: 0o755 });
    const files = fake.fs(id);
    expect((await sbx("cp", src, `${id}:/srv/app`)).code).toBe(0); // missing: becomes /srv/app
    expect(files.readFile("/srv/app/sub/a.txt").toString()).toBe("A");
    expect((await sbx("cp", src, `${id}:/srv/app`)).code).toBe(0); // existing dir: goes inside
    expect(files.readFile("/srv/app/src/sub/a.txt").toString()).toBe("A");
    expect((await sbx("cp", join(work, "tool.sh"), `${id}:/bin/`)).code).toBe(0);
    expect(files.stat("/bin/tool.sh")!.mode & 0o777).toBe(0o755);

    expect((await sbx("cp", `${id}:/srv/app`, join(work, "copy"))).code).toBe(0);
    expect(readFileSync(join(work, "copy/sub/a.txt"), "utf8")).toBe("A");
    expect((await sbx("cp", `${id}:/bin/tool.sh`, join(work, "copy"))).code).toBe(0); // into the dir
    expect(readFileSync(join(work, "copy/tool.sh"), "utf8")).toBe("#!/bin/sh\n");
    expect((await sbx("cp", `${id}:/bin/tool.sh`, join(work, "renamed.sh"))).code).toBe(0);
    expect(statSync(join(work, "renamed.sh")).mode & 0o777).toBe(0o755);
  });

  it("refuses a symlink that leads out of the copy, and follows it with -L", async () => {
    const id = (await sbx("new", "-q")).stdout.trim();
    const files = fake.fs(id);
    files.writeFile("/usr/lib/os-release", Buffer.from("NAME=fake\n"));
    files.put("/etc/os-release", {
      type: "symlink",
      target: "../usr/lib/os-release",
      mode: 0o777,
      uid: 0,
      gid: 0,
      mtime: 0,
    });
    const r = await sbx("cp", `${id}:/etc/os-release`, join(work, "os-release"));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("os-release -> ../usr/lib/os-release: linkpath escapes extraction directory");
    expect(r.stderr).toContain(
      "error: 1 entry of /etc/os-release was not copied: a symbolic link points outside what is copied (add -L",
    );
    const into = join(work, "etc-copy");
    mkdirSync(into);
    expect((await sbx("cp", "-L", `${id}:/etc/os-release`, into)).code).toBe(0);
    expect(readFileSync(join(into, "os-release"), "utf8")).toBe("NAME=fake\n");
  });

  it("says when the sandbox path does not exist", async () => {
    const id = (await sbx("new", "-q")).stdout.trim();
    const r = await sbx("cp", `${id}:/nope`, join(work, "nope"));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("error: /nope does not exist in the sandbox");
  });

  it("refuses two local or two sandbox paths and relative sandbox paths", async () => {
    expect((await sbx("cp", "a", "b")).stderr).toMatch(/one side of sbx cp is a sandbox path/);
    expect((await sbx("cp", "x:/a", "y:/b")).code).toBe(1);
    expect((await sbx("cp", "./a", "sb1:etc")).stderr).toMatch(/absolute/);
  });
});

describe("daemon, version, doctor", () => {
  it("daemon status says not running (exit 1) and never starts one for a custom host", async () => {
    const missing = `unix://${join(work, "none.sock")}`;
    const out = await sbx("daemon", "status", "--host", missing, "--json");
    expect(out.code).toBe(1);
    expect(JSON.parse(out.stdout)).toMatchObject({ running: false });
    const ls = await sbx("ls", "--host", missing);
    expect(ls.code).toBe(1);
    expect(ls.stderr).toContain("cannot reach sbxd at");
    expect(ls.stderr).not.toContain("starting sbxd");
  });

  it("daemon status and version report the daemon", async () => {
    expect((await sbx("daemon", "status")).stdout).toContain(`sbxd ${VERSION} is running at unix://`);
    expect(JSON.parse((await sbx("version", "--json")).stdout)).toMatchObject({ daemon: VERSION });
  });

  it("doctor prints marks and fixes and exits 1 on a failed check", async () => {
    const r = await sbx("doctor");
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("✓ crun: crun 1.19");
    expect(r.stdout).toContain("✗ cgroups: cgroup v1 only\n    fix: boot with systemd.unified_cgroup_hierarchy=1");
    expect(JSON.parse((await sbx("doctor", "--json")).stdout)).toHaveLength(2);
  });

  it("every command's help has examples", async () => {
    for (const cmd of [
      ["new"],
      ["ls"],
      ["info"],
      ["rm"],
      ["exec"],
      ["run"],
      ["cp"],
      ["daemon"],
      ["daemon", "start"],
      ["daemon", "stop"],
      ["daemon", "status"],
      ["doctor"],
      ["version"],
    ]) {
      const r = await sbx(...cmd, "--help");
      expect(r.code, cmd.join(" ")).toBe(0);
      expect(r.stdout, cmd.join(" ")).toContain("Examples:");
    }
  });

  it("bin/sbx.js launches the CLI", async () => {
    const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(process.execPath, [join(root, "packages/cli/bin/sbx.js"), "version", "--host", fake.host]);
      let out = "";
      child.stdout.on("data", (d: Buffer) => (out += d));
      child.on("close", (code) => resolve({ code, out }));
    });
    expect(r.code).toBe(0);
    expect(r.out).toBe(`sbx   ${VERSION}\nsbxd  ${VERSION}\n`);
  }, 20_000);
});
