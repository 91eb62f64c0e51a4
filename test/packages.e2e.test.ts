// The four packages as they would be published (scripts/pack.sh): the SDK installs into a fresh
// project without native code, a compiler or the daemon's dependencies, its declarations type-check
// a strict user project, its import closure stays out of daemon code, and the CLI runs from its
// tarball against the real daemon.
import { spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { isStaticElf } from "../packages/daemon/src/runtime/host-facts.js";
import { REPO } from "./harness.js";

const work = mkdtempSync(join(tmpdir(), "sbx-packages-"));
const tarballs: Record<string, string> = {};
const app = join(work, "app");

/** Modules that must never be reached from the SDK: the daemon, its server libraries, native addons. */
const FORBIDDEN = /^(@sbx-sh\/(daemon|cli)|hono|@hono\/|zod|pino|better-sqlite3|node-pty)(\/|$)/;

/** A user's environment: without the test run's NODE_OPTIONS, which resolve packages to this checkout's sources. */
const USER_ENV = { ...process.env, NODE_OPTIONS: "", SBX_FROM_SOURCE: "" };

function run(cmd: string, args: string[], cwd: string): string {
  const r = spawnSync(cmd, args, { cwd, env: USER_ENV, encoding: "utf8", timeout: 300_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

function npmInstall(dir: string, files: string[]): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "user-app", private: true, type: "module" }));
  run("npm", ["install", "--omit=dev", "--no-audit", "--no-fund", "--no-package-lock", ...files], dir);
}

function walk(dir: string, visit: (path: string) => void): void {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = statSync(path, { throwIfNoEntry: false });
    if (!st) continue;
    if (st.isDirectory()) walk(path, visit);
    else visit(path);
  }
}

beforeAll(() => {
  for (const line of run(join(REPO, "scripts", "pack.sh"), [join(work, "tgz")], REPO)
    .split("\n")
    .filter(Boolean)) {
    const m = /sbx-sh-([a-z]+)-[\d.]+\.tgz$/.exec(line);
    if (m) tarballs[m[1]!] = line;
  }
  npmInstall(app, [tarballs.protocol!, tarballs.sdk!]);
}, 600_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("published packages", () => {
  it("pack only their compiled code: no sources, tests or test helpers", () => {
    expect(Object.keys(tarballs).sort()).toEqual(["cli", "daemon", "protocol", "sdk"]);
    for (const [name, file] of Object.entries(tarballs)) {
      const entries = run("tar", ["-tzf", file], work).split("\n").filter(Boolean);
      expect(entries, name).toContain("package/package.json");
      expect(
        entries.some((e) => e.startsWith("package/dist/") && e.endsWith(".js")),
        name,
      ).toBe(true);
      const stray = entries.filter((e) => /\.test\.|\/testing\/|\.conformance\.|^package\/src\//.test(e));
      expect(stray, name).toEqual([]);
    }
    for (const bin of ["package/bin/sbx.js", "package/dist/main.js"]) {
      expect(run("tar", ["-tzf", tarballs.cli!], work)).toContain(bin);
    }
    expect(run("tar", ["-tzf", tarballs.daemon!], work)).toContain("package/bin/sbxd.js");
  });

  it("ship the daemon's two native helpers, built and executable: sbx-agent and sbx-deflate", () => {
    // Each sits in a directory whose .gitignore hides bin/ from git; npm must still pack it.
    const modes = new Map(
      run("tar", ["-tvzf", tarballs.daemon!], work)
        .split("\n")
        .filter(Boolean)
        .map((l) => [l.split(/\s+/).at(-1)!, l.split(/\s+/)[0]!]),
    );
    for (const bin of ["package/agent/bin/sbx-agent", "package/deflate/bin/sbx-deflate"]) {
      expect(modes.get(bin) ?? "missing", bin).toMatch(/^-rwx/);
    }
    const dir = join(work, "daemon-bins");
    mkdirSync(dir);
    run(
      "tar",
      ["-xzf", tarballs.daemon!, "-C", dir, "package/agent/bin/sbx-agent", "package/deflate/bin/sbx-deflate"],
      work,
    );
    // The very binaries the daemon runs: the agent static (sandboxes have no libc of ours), the
    // compressor answering its version line (the daemon checks it before it uses it).
    expect(isStaticElf(join(dir, "package/agent/bin/sbx-agent"))).toBe(true);
    expect(run(join(dir, "package/deflate/bin/sbx-deflate"), ["--version"], work)).toMatch(
      /^sbx-deflate framing \d+ libdeflate \S+\n$/,
    );
  });

  it("install the SDK lean: no native module, no install script, at most 15 packages and 6 MB", () => {
    const lock = JSON.parse(readFileSync(join(app, "node_modules", ".package-lock.json"), "utf8")) as {
      packages: Record<string, { hasInstallScript?: boolean }>;
    };
    const installed = Object.keys(lock.packages).filter((p) => p.startsWith("node_modules/"));
    expect(installed.length).toBeLessThanOrEqual(15);
    expect(installed.filter((p) => FORBIDDEN.test(p.slice("node_modules/".length)))).toEqual([]);
    expect(installed.filter((p) => lock.packages[p]!.hasInstallScript)).toEqual([]);
    let bytes = 0;
    const native: string[] = [];
    walk(join(app, "node_modules"), (path) => {
      bytes += statSync(path).size;
      if (path.endsWith(".node") || path.endsWith("binding.gyp")) native.push(relative(app, path));
    });
    expect(native).toEqual([]);
    expect(bytes).toBeLessThanOrEqual(6 * 1024 * 1024);
  });

  it("give a strict TypeScript project the SDK's types, with no schema or server library behind them", () => {
    writeFileSync(
      join(app, "main.ts"),
      `import { Image, Sandbox, SbxError, type ProcessInfo, type SandboxInfo, type SnapshotInfo } from "@sbx-sh/sdk";

export const image = new Image({ name: "tools", baseImage: "debian-minimal" }).run("true").env("A", "1").workdir("/w");

export async function main(): Promise<number> {
  const sandbox = await Sandbox.create({ image: "tools", cpus: 1, memoryMb: 256, timeoutSecs: 60 });
  const info: SandboxInfo = await sandbox.info();
  const r = await sandbox.run("sh", { args: ["-c", "echo hi"], env: { X: "1" }, workingDir: "/w" });
  const code: number | null = r.exitCode;
  const p = await sandbox.startProcess("sleep", { args: ["1"] });
  const done = await p.wait();
  const listed: ProcessInfo[] = await sandbox.listProcesses();
  await sandbox.writeFile("/w/a.txt", "data");
  const text: string = (await sandbox.readFile("/w/a.txt")).toString();
  const entries = (await sandbox.listDirectory("/w")).entries.map((e) => e.name);
  const snap: SnapshotInfo = await sandbox.snapshot();
  await sandbox.terminate();
  try {
    await Sandbox.connect("nope");
  } catch (err) {
    if (err instanceof SbxError && err.code === "sandbox_not_found") return 1;
  }
  return [info.id, code, done.exitCode, listed.length, text, entries.length, snap.id].length;
}
`,
    );
    writeFileSync(
      join(app, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          target: "ES2022",
          module: "NodeNext",
          moduleResolution: "NodeNext",
          // Only the SDK's own declarations are checked with the user's settings.
          skipLibCheck: false,
          types: ["node"],
          typeRoots: [join(REPO, "node_modules", "@types")],
        },
        files: ["main.ts"],
      }),
    );
    run(process.execPath, [join(REPO, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json"], app);
    const leaks: string[] = [];
    walk(join(app, "node_modules", "@sbx-sh"), (path) => {
      if (!path.endsWith(".d.ts")) return;
      for (const m of readFileSync(path, "utf8").matchAll(/from\s+["']([^"']+)["']|import\(["']([^"']+)["']\)/g)) {
        const spec = m[1] ?? m[2]!;
        if (FORBIDDEN.test(spec)) leaks.push(`${relative(app, path)} -> ${spec}`);
      }
    });
    expect(leaks).toEqual([]);
  });

  it("keep the SDK's import closure to itself, the protocol, node: modules and its three pure-JS dependencies", () => {
    const seen = new Set<string>();
    const bare = new Set<string>();
    const sdkDir = join(app, "node_modules", "@sbx-sh", "sdk");
    const pending = ["dist/index.js", "dist/internal.js", "dist/core.js", "dist/archive.js"].map((f) =>
      join(sdkDir, f),
    );
    // `@sbx-sh/protocol` and its subpaths (`/dockerfile`), as the installed package's exports map them.
    const protocolDir = join(app, "node_modules", "@sbx-sh", "protocol");
    const exportsMap = (
      JSON.parse(readFileSync(join(protocolDir, "package.json"), "utf8")) as {
        exports: Record<string, { default: string }>;
      }
    ).exports;
    const protocolEntry = (sub: string): string => join(protocolDir, exportsMap[`.${sub}`]!.default);
    while (pending.length) {
      const file = pending.pop()!;
      if (seen.has(file)) continue;
      seen.add(file);
      const text = readFileSync(file, "utf8");
      const specs = [
        ...text.matchAll(/^\s*(?:import|export)\s[^"'`;]*?from\s*["']([^"']+)["']/gm),
        ...text.matchAll(/^\s*import\s*["']([^"']+)["']/gm),
        ...text.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g),
      ].map((m) => m[1]!);
      for (const spec of specs) {
        if (spec.startsWith(".")) pending.push(resolve(dirname(file), spec));
        else if (spec === "@sbx-sh/protocol" || spec.startsWith("@sbx-sh/protocol/"))
          pending.push(protocolEntry(spec.slice("@sbx-sh/protocol".length)));
        else bare.add(spec.startsWith("node:") ? "node:" : spec);
      }
    }
    expect([...seen].every((f) => existsSync(f))).toBe(true);
    expect([...seen].filter((f) => !f.startsWith(join(app, "node_modules", "@sbx-sh")))).toEqual([]);
    expect([...bare].sort()).toEqual(["node:", "tar", "tinyglobby", "ws"]);
  });

  it("run the CLI from its tarball against the real daemon", () => {
    const cliDir = join(work, "cli");
    npmInstall(cliDir, [tarballs.protocol!, tarballs.sdk!, tarballs.cli!]);
    const r = spawnSync(join(cliDir, "node_modules", ".bin", "sbx"), ["version", "--json"], {
      env: { ...USER_ENV, SBX_HOST: inject("sbxHost") },
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ client: "0.1.0", daemon: expect.any(String) });
    // The Python SDK travels with the CLI: an image.py builds with nothing installed for python3.
    writeFileSync(
      join(cliDir, "image.py"),
      'from sbx_sdk import Image\nimage = Image(name="packed-py").env("A", "1")\n',
    );
    const py = spawnSync(
      join(cliDir, "node_modules", ".bin", "sbx"),
      ["image", "create", "image.py", "--replace", "-q"],
      {
        cwd: cliDir,
        env: { ...USER_ENV, SBX_HOST: inject("sbxHost"), PYTHONPATH: "" },
        encoding: "utf8",
        timeout: 120_000,
      },
    );
    expect(py.status, py.stderr).toBe(0);
    expect(py.stdout.trim()).toMatch(/^sha256:[0-9a-f]{64}$/);
  }, 300_000);
});
