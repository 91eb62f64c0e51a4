// The sbx CLI as a user runs it, against the real daemon: new, exec (exit codes, stdin), cp in
// both directions (and Ctrl-C in the middle of one, or of an image export), ls/info with --json
// and -q, rm, the errors a typo gets, and doctor.
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import { REPO } from "./harness.js";

const host = inject("sbxHost");
const ids: string[] = [];

function sbx(args: string[], input?: string): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(REPO, "packages", "cli", "bin", "sbx.js"), ...args], {
    env: { ...process.env, SBX_HOST: host },
    input,
    encoding: "utf8",
    timeout: 120_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Runs the CLI, sends it SIGINT as soon as it has made a hidden temp entry in `dir` (it is writing
 * there), checks it died of that signal, and answers what it left in `dir`.
 */
async function interruptOnceWriting(args: string[], dir: string): Promise<string[]> {
  const cli = join(REPO, "packages", "cli", "bin", "sbx.js");
  const child = spawn(process.execPath, [cli, ...args], { env: { ...process.env, SBX_HOST: host }, stdio: "ignore" });
  const exited = once(child, "exit");
  while (!(await readdir(dir)).some((e) => e.startsWith("."))) {
    expect(child.exitCode).toBeNull();
    await new Promise((r) => setTimeout(r, 5));
  }
  child.kill("SIGINT");
  const [code, signal] = await exited;
  expect({ code, signal }).toEqual({ code: null, signal: "SIGINT" });
  return readdir(dir);
}

afterAll(() => {
  for (const id of ids) sbx(["rm", id]);
});

describe("sbx CLI", () => {
  it("creates a sandbox, execs with the command's exit code and stdin, and removes it", () => {
    const created = sbx(["new", "--no-internet"]);
    expect(created.code).toBe(0);
    const id = created.stdout.trim();
    expect(id).toMatch(/^sb-[a-z0-9]{12}$/);
    ids.push(id);

    const hello = sbx(["exec", id, "--", "sh", "-c", "echo hello; exit 3"]);
    expect(hello).toMatchObject({ code: 3, stdout: "hello\n" });
    expect(sbx(["exec", "-i", id, "--", "tr", "a-z", "A-Z"], "shout\n").stdout).toBe("SHOUT\n");

    const listed = JSON.parse(sbx(["ls", "--json"]).stdout) as Array<{ id: string; status: string }>;
    expect(listed.find((s) => s.id === id)?.status).toBe("running");
    expect(sbx(["ls", "-q"]).stdout.split("\n")).toContain(id);
    expect(JSON.parse(sbx(["info", id, "--json"]).stdout)).toMatchObject({
      id,
      status: "running",
      image: "debian-minimal",
    });

    expect(sbx(["rm", id]).code).toBe(0);
    expect(JSON.parse(sbx(["info", id, "--json"]).stdout).status).toBe("terminated");
  });

  it("copies directories into and out of a sandbox", async () => {
    const id = sbx(["new", "--no-internet"]).stdout.trim();
    ids.push(id);
    const local = await mkdtemp(join(tmpdir(), "sbx-cli-"));
    await mkdir(join(local, "proj", "sub"), { recursive: true });
    await writeFile(join(local, "proj", "sub", "a.txt"), "alpha\n");
    expect(sbx(["cp", join(local, "proj"), `${id}:/work`]).code).toBe(0);
    expect(sbx(["exec", id, "--", "cat", "/work/sub/a.txt"]).stdout).toBe("alpha\n");
    sbx(["exec", id, "--", "sh", "-c", "echo beta > /work/sub/b.txt"]);
    const out = join(local, "out");
    expect(sbx(["cp", `${id}:/work`, out]).code).toBe(0);
    expect(await readFile(join(out, "sub", "b.txt"), "utf8")).toBe("beta\n");
  });

  it("Ctrl-C while copying out leaves nothing beside the target: no partial tree in a hidden dir", async () => {
    const id = sbx(["new", "--no-internet"]).stdout.trim();
    ids.push(id);
    // Sparse in the sandbox, 1 GiB on the wire: the copy is still going when the signal comes.
    expect(sbx(["exec", id, "--", "truncate", "-s", "1G", "/tmp/big"]).code).toBe(0);
    const local = await mkdtemp(join(tmpdir(), "sbx-cli-int-"));
    expect(await interruptOnceWriting(["cp", `${id}:/tmp/big`, join(local, "big")], local)).toEqual([]);
  });

  it("Ctrl-C during an image export to a file leaves no partial .part file", async () => {
    const id = sbx(["new", "--no-internet"]).stdout.trim();
    ids.push(id);
    // Incompressible and never exported before: the export is still compressing when the signal comes.
    expect(sbx(["exec", id, "--", "sh", "-c", "head -c 64M /dev/urandom > /big"]).code).toBe(0);
    const snap = sbx(["snapshot", id]).stdout.trim();
    const name = `int-export-${id.slice(3)}`;
    expect(sbx(["image", "register", name, snap]).code).toBe(0);
    const local = await mkdtemp(join(tmpdir(), "sbx-cli-int-"));
    expect(await interruptOnceWriting(["image", "export", name, "-o", join(local, "x.oci.tar")], local)).toEqual([]);
    sbx(["image", "rm", name]);
  });

  it("runs a command in a throwaway sandbox", () => {
    const r = sbx(["run", "--no-internet", "--", "sh", "-c", "cat /etc/debian_version; exit 4"]);
    expect(r.code).toBe(4);
    expect(r.stdout).toMatch(/^\d+/);
  });

  it("explains mistakes in a line or two and exits non-zero", () => {
    const r = sbx(["exec", "sb-doesnotexist", "--", "true"]);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/^error: .*does not exist/m);
    expect(r.stderr.trim().split("\n").length).toBeLessThanOrEqual(2);
    const bad = sbx(["new", "--cpus", "999"]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/cpus/);
  });

  it("checks the host through the daemon package's own probe (sbx doctor runs sbxd doctor)", () => {
    const r = sbx(["doctor", "--json"]);
    const checks = JSON.parse(r.stdout) as Array<{ name: string; ok: boolean; fix?: string }>;
    // This host runs the suite's sandboxes, so what they need is there.
    for (const name of ["root", "crun", "catatonit", "busybox-static", "overlayfs", "cgroups", "user namespaces"]) {
      expect(checks.find((c) => c.name === name)?.ok, name).toBe(true);
    }
    expect(r.code).toBe(checks.every((c) => c.ok) ? 0 : 1);
  });

  it("says which gzip layer exports get: sbx-deflate and its libdeflate, or zlib and why", () => {
    const compressor = (env: NodeJS.ProcessEnv): string => {
      const r = spawnSync(process.execPath, [join(REPO, "packages", "cli", "bin", "sbx.js"), "doctor"], {
        env: { ...process.env, SBX_HOST: host, ...env },
        encoding: "utf8",
        timeout: 120_000,
      });
      return r.stdout.split("\n").find((l) => l.includes(" layer compressor: ")) ?? r.stdout + r.stderr;
    };
    // npm run build made sbx-deflate (oci.e2e.test.ts checks the daemon compresses with it).
    expect(compressor({})).toMatch(/layer compressor: sbx-deflate framing 1 libdeflate [0-9.]+ \(\/.+\/sbx-deflate\)$/);
    expect(compressor({ SBX_DEFLATE: "off" })).toMatch(/layer compressor: zlib .*turned off \(SBX_DEFLATE=off\)$/);
    const json = JSON.parse(sbx(["doctor", "--json"]).stdout) as Array<{ name: string; detail: string }>;
    expect(json.find((c) => c.name === "layer compressor")?.detail).toMatch(/^sbx-deflate framing 1 libdeflate /);
  });
});
