// The SDK contract, TypeScript half (the Python half is python/tests/test_contract.py, with the same
// scenario names and assertions): the seed flow, processes, files, snapshots and bad input against
// the real daemon; and equivalent image definitions in both SDKs lower to byte-identical IR.
import { spawnSync } from "node:child_process";
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  chmodSync,
  writeFileSync,
  copyFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Image, SbxError, Sandbox, type BuildEvent } from "@sbx-sh/sdk";
import { loadImageFile } from "../packages/cli/src/image-loader.js";
import { sharedClient, useSandboxes } from "./fixtures.js";
import { REPO } from "./harness.js";

const client = sharedClient();
const sandbox = useSandboxes(client);
const SEED = join(REPO, "test", "fixtures", "python-seed");
const tmp = mkdtempSync(join(tmpdir(), "sbx-contract-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function errorOf(p: Promise<unknown>): Promise<SbxError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SbxError);
  return err as SbxError;
}

describe("SDK contract (TypeScript)", () => {
  it("seed flow: builds an image from code and launches it", async () => {
    const { image } = (await import("./fixtures/python-seed/image.js")) as { image: Image };
    const events: BuildEvent["type"][] = [];
    const info = await image.build({
      client,
      registeredName: "ts-seed-sdk",
      replace: true,
      onEvent: (e) => events.push(e.type),
    });
    expect(info).toMatchObject({ name: "ts-seed-sdk", kind: "built" });
    expect(events[0]).toBe("build");
    expect(events.at(-1)).toBe("done");
    const sb = await sandbox({ image: "ts-seed-sdk" });
    const r = await sb.run("sh", {
      args: ["-c", 'echo "$GREETING $(pwd)"; cat /etc/seed; cat app/hello.txt; cat assets/a/f'],
    });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe("hello from python /opt/app\nseeded\nhello file\nin the tar\n");
    await client.deleteImage("ts-seed-sdk");
  });

  it("processes: run, stream, stdin and signals", async () => {
    const sb = await sandbox();
    const r = await sb.run("sh", {
      args: ["-c", "echo out; echo err >&2; pwd; echo $X; exit 3"],
      env: { X: "y" },
      workingDir: "/tmp",
    });
    expect([r.exitCode, r.stdout, r.stderr]).toEqual([3, "out\n/tmp\ny\n", "err\n"]);
    const cat = await sb.startProcess("sh", { args: ["-c", "tr a-z A-Z; echo done"], stdin: true });
    await cat.writeStdin("hello\n");
    await cat.closeStdin();
    const res = await cat.wait();
    expect([res.exitCode, res.stdout]).toEqual([0, "HELLO\ndone\n"]);
    const sleeper = await sb.startProcess("sleep", { args: ["600"] });
    await sleeper.signal("SIGTERM");
    expect((await sleeper.wait()).signal).toBe("SIGTERM");
    await sb.terminate();
    expect((await sb.info()).status).toBe("terminated");
  });

  it("files: read, write, list, delete and trees", async () => {
    const sb = await sandbox();
    await sb.writeFile("/work/dir/in.txt", "data ü");
    expect((await sb.readFile("/work/dir/in.txt")).toString()).toBe("data ü");
    const listing = await sb.listDirectory("/work/dir");
    expect(listing.entries.map((e) => [e.name, e.type, e.size])).toEqual([
      ["in.txt", "file", Buffer.byteLength("data ü")],
    ]);
    await sb.deleteFile("/work/dir/in.txt");
    expect((await errorOf(sb.readFile("/work/dir/in.txt"))).code).toBe("file_not_found");
    mkdirSync(join(tmp, "src", "sub"), { recursive: true });
    writeFileSync(join(tmp, "src", "sub", "f.txt"), "tree");
    await sb.uploadDirectory(join(tmp, "src"), "/work/tree");
    expect((await sb.run("cat", { args: ["/work/tree/sub/f.txt"] })).stdout).toBe("tree");
    await sb.downloadDirectory("/work/tree", join(tmp, "out"));
    expect(readFileSync(join(tmp, "out", "sub", "f.txt"), "utf8")).toBe("tree");
  });

  it("snapshots: restore, forks and suspend/resume", async () => {
    const name = `ts-contract-${process.pid}`;
    const sb = await sandbox({ name });
    await sb.writeFile("/state.txt", "v1");
    const snap = await sb.snapshot();
    expect(snap).toMatchObject({ status: "completed", sourceSandboxId: sb.id });
    await sb.writeFile("/state.txt", "v2");
    const restored = await sandbox({ snapshotId: snap.id });
    expect((await restored.readFile("/state.txt")).toString()).toBe("v1");
    const forks = await sb.copy({ times: 2 });
    try {
      expect(await Promise.all(forks.map(async (f) => (await f.readFile("/state.txt")).toString()))).toEqual([
        "v2",
        "v2",
      ]);
    } finally {
      for (const f of forks) await f.terminate();
    }
    expect((await sb.suspend()).status).toBe("suspended");
    expect((await sb.resume()).status).toBe("running");
    expect((await sb.readFile("/state.txt")).toString()).toBe("v2");
    await client.deleteSnapshot(snap.id);
  });

  it("bad input: coded errors that change nothing", async () => {
    const before = (await client.list()).map((s) => s.id).sort();
    expect((await errorOf(Sandbox.create({ name: "Not A Name" }, client))).code).toBe("invalid_name");
    expect((await errorOf(Sandbox.create({ image: "no-such-image" }, client))).code).toBe("image_not_found");
    expect((await errorOf(Sandbox.connect("sb-doesnotexist0", client))).code).toBe("sandbox_not_found");
    expect((await client.list()).map((s) => s.id).sort()).toEqual(before);
    const bad = new Image({ name: "ts-fails", baseImage: "debian-minimal" }).run("echo before").run("exit 7");
    const err = await errorOf(bad.build({ client }));
    expect(err.code).toBe("failed_precondition");
    expect(err.details).toMatchObject({ exitCode: 7, step: 2 });
    expect((err.details?.source as { file: string }).file).toMatch(/sdk-contract\.e2e\.test\.ts$/);
    expect((await errorOf(client.getImage("ts-fails"))).code).toBe("image_not_found");
  });

  it("equivalent image definitions in TypeScript and Python lower to byte-identical IR", async () => {
    // A context with what packing must get right: nesting, modes, a symlink, a path over 100
    // bytes (ustar prefix), a name over 100 bytes (PAX header), non-ASCII, globs, .sbxignore, add().
    const d = join(tmp, "ir");
    const fixture = join(REPO, "test", "fixtures", "sdk-ir");
    mkdirSync(join(d, "ctx", "sub", "deep"), { recursive: true });
    for (const f of ["image.ts", "image.py"]) copyFileSync(join(fixture, f), join(d, f));
    writeFileSync(join(d, "ctx", "a.txt"), "a\n");
    writeFileSync(join(d, "ctx", "b.txt"), "b\n");
    chmodSync(join(d, "ctx", "b.txt"), 0o755);
    writeFileSync(join(d, "ctx", "sub", "deep", "m.py"), "x = 1\n");
    writeFileSync(join(d, "ctx", "sub", "ünï.py"), "ü\n");
    symlinkSync("a.txt", join(d, "ctx", "link"));
    const long = join(d, "ctx", "d".repeat(90), "d".repeat(90));
    mkdirSync(long, { recursive: true });
    writeFileSync(join(long, "file-with-a-long-path.txt"), "long\n");
    writeFileSync(join(d, "ctx", `${"n".repeat(120)}.txt`), "p\n");
    writeFileSync(join(d, "ctx", "skip.log"), "secret\n");
    writeFileSync(join(d, ".sbxignore"), "*.log\n");
    copyFileSync(join(SEED, "assets.tar"), join(d, "assets.tar"));

    const loaded = await loadImageFile(join(d, "image.ts"));
    const ts = JSON.stringify(await loaded.images[0]!.image.toDefinition({ contextDir: d }));
    const code = `import runpy, sys\nfrom sbx_sdk.build import to_json\nns = runpy.run_path(sys.argv[1])\nsys.stdout.write(to_json(ns["tools"].to_definition()))`;
    const py = spawnSync("python3", ["-c", code, join(d, "image.py")], {
      env: { ...process.env, PYTHONPATH: join(REPO, "python", "src") },
      encoding: "utf8",
    });
    expect(py.status, py.stderr).toBe(0);
    // The one difference allowed: the file each step was declared in (same lines and columns).
    expect(py.stdout.replaceAll(join(d, "image.py"), join(d, "image.ts"))).toBe(ts);
    const ir = JSON.parse(ts) as { steps: Array<{ op: string; context?: string }> };
    expect(ir.steps.filter((s) => s.context).length).toBe(3);

    // The seed example in both languages: the same IR but for where each step was declared.
    const example = join(REPO, "examples", "data-tools");
    const exTs = await (await loadImageFile(join(example, "image.ts"))).images[0]!.image.toDefinition();
    const exPy = spawnSync("python3", ["-c", code.replace('ns["tools"]', 'ns["image"]'), join(example, "image.py")], {
      env: { ...process.env, PYTHONPATH: join(REPO, "python", "src") },
      encoding: "utf8",
    });
    expect(exPy.status, exPy.stderr).toBe(0);
    const unsourced = (d: { steps: Array<{ source?: unknown }> }) =>
      JSON.stringify({ ...d, steps: d.steps.map(({ source: _s, ...step }) => step) });
    expect(unsourced(JSON.parse(exPy.stdout) as { steps: Array<{ source?: unknown }> })).toBe(unsourced(exTs));
  });
});
