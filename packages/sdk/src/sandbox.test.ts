// Sandbox against sbxd on the fake runtime: run/exec streaming, background processes with stdin and
// signals, files, and directory trees both ways (including a hostile tar from the sandbox).
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import * as diagnostics from "node:diagnostics_channel";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tar from "tar";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sandbox, SandboxClient, SbxError } from "./index.js";
import { TestDaemon } from "../../daemon/src/testing/test-daemon.js";

let fake: TestDaemon;
let client: SandboxClient;
let sb: Sandbox;
const local = mkdtempSync(join(tmpdir(), "sbx-sdk-test-"));

beforeAll(async () => {
  fake = await TestDaemon.start({ baseImages: ["debian-minimal", "python"] });
  client = new SandboxClient({ host: fake.host, env: {} });
  sb = await Sandbox.create({ image: "python", cpus: 2, env: { A: "1" } }, client);
});
afterAll(async () => {
  await fake.stop();
  rmSync(local, { recursive: true, force: true });
});

describe("Sandbox lifecycle", () => {
  it("creates with the given settings and connects by id or name", async () => {
    expect(sb.id).toMatch(/^sb-/);
    expect(sb.lastInfo).toMatchObject({ image: "python", cpus: 2, env: { A: "1" }, status: "running" });
    const named = await Sandbox.create({ name: "web" }, { host: fake.host, env: {} });
    const again = await Sandbox.connect("web", { host: fake.host, env: {} });
    expect(again.id).toBe(named.id);
    expect((await named.terminate()).status).toBe("terminated");
    expect((await again.info()).status).toBe("terminated");
  });

  it("creates with an egress policy and updates it with updateNetwork (PATCH .../network)", async () => {
    const box = await Sandbox.create({ allowOut: ["198.18.0.1"], denyOut: [] }, client);
    expect(box.lastInfo).toMatchObject({ allowOut: ["198.18.0.1"], denyOut: [] });
    const after = await box.updateNetwork({ denyOut: ["198.18.0.1"] });
    expect(after).toMatchObject({ allowOut: ["198.18.0.1"], denyOut: ["198.18.0.1"] });
    expect(box.lastInfo).toBe(after);
    const req = fake.requests.at(-1)!;
    expect([req.method, req.url, JSON.parse(req.body)]).toEqual([
      "PATCH",
      `/v1/sandboxes/${box.id}/network`,
      { denyOut: ["198.18.0.1"] },
    ]);
  });

  it("throws sandbox_not_found when connecting to nothing", async () => {
    await expect(Sandbox.connect("ghost", client)).rejects.toMatchObject({ code: "sandbox_not_found" });
  });
});

describe("run", () => {
  it("returns exit code, stdout and stderr and streams to the callbacks", async () => {
    const out: string[] = [];
    const res = await sb.run("echo", { args: ["hello", "world"], onStdout: (t) => out.push(t) });
    expect(res).toEqual({ exitCode: 0, stdout: "hello world\n", stderr: "", signal: null, timedOut: false });
    expect(out.join("")).toBe("hello world\n");
    const bad = await sb.run("fail", { args: ["7"] });
    expect(bad.exitCode).toBe(7);
    expect(bad.stderr).toBe("oops\n");
  });

  it("sends the process request with timeout in seconds as timeoutSecs", async () => {
    const res = await sb.run("show-request", {
      args: ["x"],
      env: { B: "2" },
      workingDir: "/w",
      user: "1000:1000",
      timeout: 2.5,
    });
    expect(JSON.parse(fake.requests.filter((r) => r.url.endsWith("/exec")).at(-1)!.body)).toEqual({
      command: "show-request",
      args: ["x"],
      env: { B: "2" },
      workingDir: "/w",
      user: "1000:1000",
      timeoutSecs: 3,
    });
    expect(JSON.parse(res.stdout)).toMatchObject({ argv: ["show-request", "x"], cwd: "/w", user: "1000:1000" });
  });

  it("decodes a stream that arrives in 3-byte pieces, mid-line and mid-character", async () => {
    const errs: string[] = [];
    fake.sliceResponses = 3;
    const res = await sb
      .run("split", { onStderr: (t) => errs.push(t) })
      .finally(() => (fake.sliceResponses = undefined));
    expect(res).toMatchObject({ exitCode: 3, stdout: "héllo wörld € end\n", stderr: "warn ✓\n" });
    expect(errs.join("")).toBe("warn ✓\n");
  });

  it("reports a timeout kill as 137 with timedOut", async () => {
    const res = await sb.run("wait-for-signal", { timeout: 1 });
    expect(res).toMatchObject({ exitCode: 137, signal: "SIGKILL", timedOut: true });
  });

  it("keeps its connection to sbxd across runs (the end of each answer is read, not cut off)", async () => {
    let opened = 0;
    const count = (): void => void opened++;
    diagnostics.subscribe("net.client.socket", count);
    try {
      for (let i = 0; i < 6; i++) expect((await sb.run("echo", { args: [`run ${i}`] })).stdout).toBe(`run ${i}\n`);
    } finally {
      diagnostics.unsubscribe("net.client.socket", count);
    }
    // A cut answer costs its connection: one new one per run. Kept ones serve the next runs (a run
    // may start while the last answer's end is still on its way: then a second one is opened).
    expect(opened).toBeLessThanOrEqual(2);
  });

  it("exposes raw events with exec, started first", async () => {
    const types: string[] = [];
    for await (const ev of sb.exec("echo", { args: ["hi"] })) types.push(ev.type);
    expect(types).toEqual(["started", "stdout", "exit"]);
  });
});

describe("startProcess", () => {
  it("pumps stdin, follows output and waits for the exit", async () => {
    const p = await sb.startProcess("cat", { stdin: true });
    expect(p.lastInfo?.stdin).toBe(true);
    await p.writeStdin("line 1\n");
    await p.writeStdin(new TextEncoder().encode("line 2\n"));
    const waiting = p.wait();
    await p.closeStdin();
    expect(await waiting).toMatchObject({ exitCode: 0, stdout: "line 1\nline 2\n" });
    expect((await p.info()).status).toBe("exited");
    // Without follow the output is what was printed so far (the daemon reads it as one chunk), exit
    // included once exited.
    const seen: string[] = [];
    for await (const ev of p.output()) seen.push(ev.type === "exit" ? "exit" : ev.data.toString());
    expect(seen).toEqual(["line 1\nline 2\n", "exit"]);
    await expect(p.writeStdin("late")).rejects.toMatchObject({ code: "failed_precondition" });
  });

  it("signals and kills by name or number", async () => {
    const p = await sb.startProcess("wait-for-signal");
    const waiting = p.wait();
    await p.signal(2);
    expect(await waiting).toMatchObject({ exitCode: 130, signal: "SIGINT", stderr: "got SIGINT\n" });
    const q = await sb.startProcess("wait-for-signal");
    await q.kill();
    expect(fake.requests.at(-1)!.body).toBe('{"signal":"SIGKILL"}');
    expect((await sb.getProcess(q.id)).id).toBe(q.id);
    expect((await sb.listProcesses()).length).toBeGreaterThan(1);
  });
});

describe("files", () => {
  it("writes, reads, lists and deletes", async () => {
    await sb.writeFile("/data/a.txt", "hello");
    await sb.writeFile("/data/b.bin", new Uint8Array([0, 1, 255]));
    expect((await sb.readFile("/data/a.txt")).toString()).toBe("hello");
    expect([...(await sb.readFile("/data/b.bin"))]).toEqual([0, 1, 255]);
    const listing = await sb.listDirectory("/data");
    expect(listing.entries.map((e) => e.name).sort()).toEqual(["a.txt", "b.bin"]);
    await sb.deleteFile("/data/a.txt");
    await expect(sb.readFile("/data/a.txt")).rejects.toBeInstanceOf(SbxError);
    await expect(sb.readFile("/data/a.txt")).rejects.toMatchObject({ code: "file_not_found" });
    expect(fake.requests.at(-1)!.url).toBe("/v1/sandboxes/" + sb.id + "/files?path=%2Fdata%2Fa.txt");
  });

  it("uploads and downloads directory trees", async () => {
    const src = join(local, "src");
    mkdirSync(join(src, "sub"), { recursive: true });
    writeFileSync(join(src, "top.txt"), "top");
    writeFileSync(join(src, "sub", "run.sh"), "#!/bin/sh\n", { mode: 0o755 });
    await sb.uploadDirectory(src, "/app");
    expect(fake.fs(sb.id).readFile("/app/sub/run.sh").toString()).toBe("#!/bin/sh\n");
    const back = join(local, "back");
    await sb.downloadDirectory("/app", back);
    expect(readFileSync(join(back, "top.txt"), "utf8")).toBe("top");
    expect(statSync(join(back, "sub", "run.sh")).mode & 0o111).not.toBe(0);
  });

  it("never writes outside the target when the sandbox sends a hostile tar", async () => {
    const evil = join(local, "evil-src");
    mkdirSync(join(evil, "d"), { recursive: true });
    writeFileSync(join(evil, "d", "suid"), "x", { mode: 0o4755 });
    const victim = join(local, "victim");
    mkdirSync(victim);
    const entries: Buffer[] = [];
    for await (const c of tar.c({ cwd: evil }, ["d"]) as unknown as AsyncIterable<Buffer>) entries.push(c);
    // Hand-made headers: ../ escape, absolute path, a symlink out and a file through it.
    const hdr = (path: string, type: "File" | "SymbolicLink", body = "", linkpath?: string) => {
      const h = new tar.Header({
        path,
        type,
        size: body.length,
        mode: 0o644,
        mtime: new Date(0),
        ...(linkpath ? { linkpath } : {}),
      });
      const block = Buffer.alloc(512);
      h.encode(block, 0);
      const data = Buffer.alloc(Math.ceil(body.length / 512) * 512);
      data.write(body);
      return Buffer.concat([block, data]);
    };
    const archive = Buffer.concat([
      Buffer.concat(entries).subarray(0, -1024), // drop the end-of-archive blocks
      hdr("d/../../escape.txt", "File", "pwned"),
      hdr(`${victim}/abs.txt`, "File", "pwned"),
      hdr("d/link", "SymbolicLink", "", victim),
      hdr("d/link/through.txt", "File", "pwned"),
      Buffer.alloc(1024),
    ]);
    fake.runtime.craftedArchives.set("/whatever", archive);
    const out = join(local, "out");
    const warnings: string[] = [];
    await sb.downloadDirectory("/whatever", out, { onWarning: (m) => warnings.push(m) });
    expect(existsSync(join(local, "escape.txt"))).toBe(false);
    expect(existsSync(join(victim, "through.txt"))).toBe(false);
    expect(existsSync(join(victim, "abs.txt"))).toBe(false);
    // node-tar strips the leading / of link targets, so the link stays inside the target.
    expect(readlinkSync(join(out, "link"))).toBe(victim.slice(1));
    expect(statSync(join(out, "suid")).mode & 0o7000).toBe(0);
    expect(warnings.length).toBeGreaterThan(0);
  });
});
