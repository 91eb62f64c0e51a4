// Contract tests: the real `tensorlake` npm SDK (pinned in test/tensorlake/install-sdk.sh), unchanged,
// on Node 22, drives a real sbx daemon over its TCP listener with a project token as
// TENSORLAKE_API_KEY, against real crun sandboxes. One daemon and one main sandbox serve every test;
// each SDK script returns what it saw as JSON and the assertions are made here. Pools and the raw
// wire are in tensorlake-pools.e2e.test.ts.
import { createServer, request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sandbox, type SandboxClient } from "@sbx-sh/sdk";
import type { TestDaemon } from "./harness.js";
import { startTensorlakeDaemon, type TensorlakeDaemon } from "./tensorlake/daemon.js";
import { runSdk, type SdkTarget } from "./tensorlake/sdk.js";

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON an SDK script returned: the assertions check its shape
type Seen = Record<string, any>;

let tl: TensorlakeDaemon;
let daemon: TestDaemon;
let admin: SandboxClient;
let target: SdkTarget;
let base = "";
let sandboxId = "";

beforeAll(async () => {
  tl = await startTensorlakeDaemon("tensorlake", 7);
  ({ daemon, admin, target, base } = tl);
});
afterAll(() => tl.stop());

const connect = () =>
  `const sb = await tl.Sandbox.connect({ sandboxId: ${JSON.stringify(sandboxId)}, apiUrl: env.apiUrl, apiKey: env.apiKey });`;

describe("the tensorlake SDK against sbx", () => {
  it("creates a sandbox and runs commands in it", async () => {
    const out = await runSdk<Record<string, unknown>>(
      target,
      `const sb = await tl.Sandbox.create({ apiUrl: env.apiUrl, apiKey: env.apiKey, name: "tl-main", timeoutSecs: 600, allowInternetAccess: true });
       const echo = await sb.run("echo", { args: ["hello"] });
       const mixed = await sb.run("sh", { args: ["-c", "echo out1; echo err1 >&2; echo out2; exit 3"] });
       const envd = await sb.run("sh", { args: ["-c", "echo $FOO; pwd"], env: { FOO: "bar" }, workingDir: "/tmp" });
       const info = await sb.info();
       return { id: sb.sandboxId, echo, mixed, envd, info, status: await sb.status() };`,
    );
    sandboxId = out.id as string;
    expect(sandboxId).toMatch(/^sb-/);
    expect(out.echo).toMatchObject({ exitCode: 0, stdout: "hello", stderr: "" });
    expect(out.mixed).toMatchObject({ exitCode: 3, stdout: "out1\nout2", stderr: "err1" });
    expect(out.envd).toMatchObject({ exitCode: 0, stdout: "bar\n/tmp" });
    expect(out.info).toMatchObject({ sandboxId, namespace: "default", status: "running", name: "tl-main" });
    expect(out.status).toBe("running");
  });

  it("starts processes, feeds stdin, follows output, signals and kills", async () => {
    const out = await runSdk<Seen>(
      target,
      `${connect()}
       const cat = await sb.startProcess("cat", { stdinMode: tl.StdinMode.PIPE });
       await sb.writeStdin(cat.pid, new TextEncoder().encode("line-a\\nline-b\\n"));
       await sb.closeStdin(cat.pid);
       const followed = [];
       for await (const e of sb.followOutput(cat.pid)) followed.push(e.line);
       const catInfo = await sb.getProcess(cat.pid);
       const both = await sb.startProcess("sh", { args: ["-c", "echo o1; echo e1 >&2; echo o2"] });
       for await (const _ of sb.followStdout(both.pid)) { /* until it ends */ }
       const output = await sb.getOutput(both.pid), stdout = await sb.getStdout(both.pid), stderr = await sb.getStderr(both.pid);
       const sleeper = await sb.startProcess("sleep", { args: ["300"] });
       const signalled = await sb.sendSignal(sleeper.pid, 15);
       let term; for (let i = 0; i < 100; i++) { term = await sb.getProcess(sleeper.pid); if (term.status !== "running") break; await new Promise((r) => setTimeout(r, 50)); }
       const victim = await sb.startProcess("sleep", { args: ["300"] });
       await sb.killProcess(victim.pid);
       let killed; for (let i = 0; i < 100; i++) { killed = await sb.getProcess(victim.pid); if (killed.status !== "running") break; await new Promise((r) => setTimeout(r, 50)); }
       const list = await sb.listProcesses();
       let missing; try { await sb.getProcess(123); } catch (e) { missing = { name: e.constructor.name, message: String(e.message) }; }
       const restarted = await sb.restartProcess(both.pid);
       return { restarted, bothPid: both.pid, cat, followed, catInfo, output, stdout, stderr, signalled, term, killed, pids: list.map((p) => p.pid), missing };`,
    );
    expect(Number.isInteger(out.cat.pid)).toBe(true);
    expect(out.cat.stdinWritable).toBe(true);
    expect(out.followed).toEqual(["line-a", "line-b"]);
    expect(out.catInfo).toMatchObject({ pid: out.cat.pid, status: "exited", exitCode: 0, command: "cat" });
    expect(out.output.lines.sort()).toEqual(["e1", "o1", "o2"]);
    expect(out.stdout).toMatchObject({ lines: ["o1", "o2"], lineCount: 2 });
    expect(out.stderr).toMatchObject({ lines: ["e1"], lineCount: 1 });
    expect(out.signalled).toMatchObject({ success: true });
    expect(out.term).toMatchObject({ status: "signaled", signal: 15 });
    expect(out.killed).toMatchObject({ status: "signaled", signal: 9 });
    expect(out.pids).toContain(out.cat.pid);
    expect(out.missing.message).toContain("404");
    // A restart runs the command again, as a new process.
    expect(out.restarted).toMatchObject({ command: "sh", args: ["-c", "echo o1; echo e1 >&2; echo o2"] });
    expect(out.restarted.pid).not.toBe(out.bothPid);
  });

  it("keeps a process's pid across a daemon restart", async () => {
    const before = await runSdk<{ pid: number }>(
      target,
      `${connect()} return await sb.startProcess("sleep", { args: ["120"] });`,
    );
    await daemon.stop();
    await daemon.start();
    const after = await runSdk<{ status: string; pid: number }>(
      target,
      `${connect()} const p = await sb.getProcess(${before.pid}); await sb.killProcess(${before.pid}); return p;`,
    );
    expect(after).toMatchObject({ pid: before.pid, status: "running" });
  });

  it("reads, writes, lists and deletes files", async () => {
    const out = await runSdk<Seen>(
      target,
      `${connect()}
       const data = new Uint8Array(3 * 1024 * 1024).map((_, i) => i % 251);
       await sb.writeFile("/tmp/tl/big.bin", data);
       const back = await sb.readFile("/tmp/tl/big.bin");
       const same = back.length === data.length && back.every((b, i) => b === data[i]);
       const listing = await sb.listDirectory("/tmp/tl");
       await sb.deleteFile("/tmp/tl/big.bin");
       const after = await sb.listDirectory("/tmp/tl");
       let missing; try { await sb.readFile("/tmp/tl/nope"); } catch (e) { missing = String(e.message); }
       return { same, listing, after, missing };`,
    );
    expect(out.same).toBe(true);
    expect(out.listing.entries).toEqual([
      expect.objectContaining({ name: "big.bin", isDir: false, size: 3 * 1024 * 1024 }),
    ]);
    expect(out.after.entries).toEqual([]);
    expect(out.missing).toContain("404");
  });

  it("opens a PTY and relays its bytes and exit code", async () => {
    const out = await runSdk<Seen>(
      target,
      `${connect()}
       let text = "";
       const pty = await sb.createPty({ command: "/bin/sh", rows: 24, cols: 80, onData: (d) => { text += new TextDecoder().decode(d); } });
       pty.sendInput("echo pty-$((6*7))\\n");
       pty.sendInput("exit 7\\n");
       const code = await pty.wait();
       const session = await sb.createPtySession({ command: "/bin/sh" });
       let refused;
       const bad = await sb.connectPty(session.sessionId, "not-the-token");
       try { await bad.wait(); } catch (e) { refused = String(e.message); }
       return { code, text, refused };`,
    );
    expect(out.code).toBe(7);
    expect(out.text).toContain("pty-42");
    // Accepted, then closed with the reason: the SDK reports it from wait() instead of crashing.
    expect(out.refused).toContain("the PTY token does not match");
  });

  it("answers health and info, and logs made of process output", async () => {
    const out = await runSdk<Seen>(
      target,
      `${connect()}
       const p = await sb.startProcess("sh", { args: ["-c", "echo log-out; echo log-err >&2"] });
       for await (const _ of sb.followOutput(p.pid)) { /* until it ends */ }
       const logs = await sb.getLogs({ processIds: [String(p.pid)] });
       const errors = await sb.getLogs({ processIds: [String(p.pid)], levels: ["error"] });
       const procs = await sb.listLogProcesses();
       return { health: await sb.health(), info: await sb.daemonInfo(), pid: p.pid, logs, errors, procs };`,
    );
    expect(out.logs.logs.map((l: Seen) => l.body).sort()).toEqual(["log-err", "log-out"]);
    expect(out.errors.logs.map((l: Seen) => l.body)).toEqual(["log-err"]);
    expect(out.procs.processes).toContainEqual(
      expect.objectContaining({
        processId: String(out.pid),
        processCommand: expect.stringContaining("log-out"),
        logCount: 2,
      }),
    );
    expect(out.health).toMatchObject({ healthy: true });
    expect(out.info.totalProcesses).toBeGreaterThan(0);
  });

  it("tunnels TCP to a sandbox port, and survives a refused one", async () => {
    const out = await runSdk<Seen>(
      target,
      `${connect()}
       await sb.writeFile("/srv/index.html", new TextEncoder().encode("through the tunnel"));
       await sb.startProcess("/.sbx/busybox", { args: ["httpd", "-f", "-p", "8080", "-h", "/srv"] });
       const tunnel = await sb.createTunnel(8080, { localPort: 0 });
       const { host, port } = tunnel.address();
       let body = "";
       for (let i = 0; i < 100 && !body; i++) {
         body = await fetch("http://" + host + ":" + port + "/index.html").then((r) => r.text(), () => "");
         if (!body) await new Promise((r) => setTimeout(r, 50));
       }
       await tunnel.close();
       const dead = await sb.createTunnel(8099, { localPort: 0 });
       const net = await import("node:net");
       const closed = await new Promise((resolve) => {
         const c = net.connect(dead.address().port, "127.0.0.1");
         c.on("error", () => resolve("error"));
         c.on("close", () => resolve("closed"));
       });
       await dead.close();
       return { body, closed };`,
    );
    expect(out.body).toBe("through the tunnel");
    // The process lived on to report it: the refused tunnel closed the local connection only.
    expect(["closed", "error"]).toContain(out.closed);
  });

  it("exposes ports through update and lists sandboxes", async () => {
    const out = await runSdk<Seen>(
      target,
      `${connect()}
       const updated = await sb.update({ exposedPorts: [8080], allowUnauthenticatedAccess: true });
       const list = await tl.Sandbox.list({ apiUrl: env.apiUrl, apiKey: env.apiKey });
       return { updated, ids: list.map((s) => s.sandboxId) };`,
    );
    expect(out.updated).toMatchObject({ exposedPorts: [8080], allowUnauthenticatedAccess: true });
    expect(out.ids).toContain(sandboxId);
    const ports = await fetch(`${base}/v1/sandboxes/${sandboxId}/ports`, { headers: auth() });
    expect(((await ports.json()) as { ports: unknown[] }).ports).toEqual([
      expect.objectContaining({ port: 8080, public: true }),
    ]);
  });

  it("snapshots, restores, copies, suspends and resumes", async () => {
    const out = await runSdk<Seen>(
      target,
      `${connect()}
       const opts = { apiUrl: env.apiUrl, apiKey: env.apiKey };
       await sb.writeFile("/root/mark", new TextEncoder().encode("kept"));
       const snap = await sb.checkpoint();
       const got = await tl.Sandbox.getSnapshot(snap.snapshotId, opts);
       const listed = (await tl.Sandbox.listSnapshots(opts)).map((x) => x.snapshotId);
       const restored = await tl.Sandbox.create({ ...opts, snapshotId: snap.snapshotId });
       const fromSnap = await restored.run("cat", { args: ["/root/mark"] });
       await restored.terminate();
       await tl.Sandbox.deleteSnapshot(snap.snapshotId, opts);
       let deleted; try { await tl.Sandbox.getSnapshot(snap.snapshotId, opts); } catch (e) { deleted = String(e.message); }
       const copied = await sb.copy({ times: 1 });
       const copy = await tl.Sandbox.connect({ ...opts, sandboxId: copied.sandboxes[0].sandboxId });
       const fromCopy = await copy.run("cat", { args: ["/root/mark"] });
       await copy.terminate();
       await sb.suspend();
       const suspended = await sb.status();
       await sb.resume();
       const resumed = await sb.status();
       const afterResume = await sb.run("cat", { args: ["/root/mark"] });
       return { snap, got, listed, fromSnap, deleted, copied, fromCopy, suspended, resumed, afterResume };`,
    );
    expect(out.got).toMatchObject({ snapshotId: out.snap.snapshotId, sandboxId, status: "completed" });
    expect(out.listed).toContain(out.snap.snapshotId);
    expect(out.fromSnap.stdout).toBe("kept");
    expect(out.deleted).toContain("404");
    expect(out.copied.sourceSandboxId).toBe(sandboxId);
    expect(out.fromCopy.stdout).toBe("kept");
    expect([out.suspended, out.resumed]).toEqual(["suspended", "running"]);
    expect(out.afterResume.stdout).toBe("kept");
  });

  it("lists, finds and deletes sandbox templates (sbx images), and introspects the key", async () => {
    const snap = await (await Sandbox.connect(sandboxId, admin)).snapshot();
    await admin.registerImage("tl-tmpl", snap.id);
    const out = await runSdk<Seen>(
      target,
      `const cloud = new tl.CloudClient({ apiUrl: env.apiUrl, apiKey: env.apiKey });
       const key = await cloud.introspectApiKey();
       const names = (await tl.listSandboxImages()).map((t) => t.name);
       const found = await tl.findSandboxImageByName("tl-tmpl");
       const missing = await tl.findSandboxImageByName("no-such-image");
       await tl.deleteSandboxImage("tl-tmpl");
       const after = await tl.findSandboxImageByName("tl-tmpl");
       return { key, names, found, missing, after };`,
      { TENSORLAKE_ORGANIZATION_ID: "sbx", TENSORLAKE_PROJECT_ID: "default" },
    );
    expect(out.key).toMatchObject({ organizationId: "sbx", projectId: "default" });
    expect(out.names).toContain("tl-tmpl");
    expect(out.found).toMatchObject({ name: "tl-tmpl", id: expect.stringMatching(/^sha256:/) });
    expect([out.missing, out.after]).toEqual([null, null]);
    await expect(admin.getImage("tl-tmpl")).rejects.toMatchObject({ code: "image_not_found" });
  });

  it("builds an image with Image.build() (logs streamed) and creates a sandbox from it", async () => {
    const before = (await admin.list()).map((s) => s.id).sort();
    const out = await runSdk<Seen>(
      target,
      `const logs = [];
       const write = process.stderr.write.bind(process.stderr);
       process.stderr.write = (chunk, ...rest) => { logs.push(String(chunk)); return write(chunk, ...rest); };
       const attempt = async (image, name, extra = {}) => {
         try { await image.build({ registeredName: name, ...extra }); return "built"; } catch (e) { return String(e.message); }
       };
       const tmpl = await new tl.Image({ name: "tl-built", baseImage: "tensorlake/debian-minimal" })
         .env("GREETING", "from-tl-build")
         .run("echo built-by-run > /built && echo step-output-marker")
         .build({ registeredName: "tl-built", verbose: true });
       const sb = await tl.Sandbox.create({ apiUrl: env.apiUrl, apiKey: env.apiKey, image: "tl-built" });
       const r = await sb.run("sh", { args: ["-c", 'cat /built; echo "$GREETING"'] });
       await sb.terminate();
       const badBase = await attempt(new tl.Image({ name: "tl-bad", baseImage: "tensorlake/no-such-base" }).run("true"), "tl-bad");
       const failing = await attempt(new tl.Image({ name: "tl-fail", baseImage: "debian-minimal" }).run("echo failing-step-says-hi; exit 7"), "tl-fail");
       return { tmpl, run: r, badBase, failing, logs: logs.join("") };`,
      { TENSORLAKE_ORGANIZATION_ID: "sbx", TENSORLAKE_PROJECT_ID: "default" },
    );
    // The RUN and the ENV are in the registered image, and the SDK's template is that image.
    expect(out.run).toMatchObject({ exitCode: 0, stdout: "built-by-run\nfrom-tl-build" });
    expect(out.tmpl).toMatchObject({ name: "tl-built", id: (await admin.getImage("tl-built")).id });
    // The build's own output reached the SDK's log stream (the builder process's output).
    expect(out.logs).toContain("step-output-marker");
    // An unknown base and a failing step fail with their reason; no builder sandbox is left.
    expect(out.badBase).toMatch(/no-such-base.*does not exist/);
    expect(out.failing).toMatch(/tl-rootfs-build.*failed/);
    await expect(admin.getImage("tl-fail")).rejects.toMatchObject({ code: "image_not_found" });
    expect((await admin.list()).map((s) => s.id).sort()).toEqual(before);
  });

  it("keeps another project's sandboxes invisible", async () => {
    await admin.createProject("tl-other");
    const other = { apiUrl: base, apiKey: (await admin.createToken("tl-other")).token! };
    const out = await runSdk<Seen>(
      other,
      `const opts = { apiUrl: env.apiUrl, apiKey: env.apiKey };
       const ids = (await tl.Sandbox.list(opts)).map((s) => s.sandboxId);
       let info; try { await (await tl.Sandbox.connect({ ...opts, sandboxId: ${JSON.stringify(sandboxId)} })).info(); } catch (e) { info = e.constructor.name + " " + e.message; }
       let run; try { await (await tl.Sandbox.connect({ ...opts, sandboxId: ${JSON.stringify(sandboxId)} })).run("true"); } catch (e) { run = String(e.message); }
       return { ids, info, run };`,
    );
    expect(out.ids).not.toContain(sandboxId);
    expect(out.info).toMatch(/NotFound|404/);
    expect(out.run).toMatch(/not found|404/i);
    // A namespace that is not the token's project is refused, and names nothing.
    const ns = await fetch(`${base}/v1/namespaces/tl-other/sandboxes`, { headers: auth() });
    expect(ns.status).toBe(403);
  });

  it("serves the remote setup: api.<domain> for the API, sandbox.<domain> for lifecycle and sandboxes", async () => {
    // Both names resolve to the daemon through a forward proxy (the SDK honours HTTP_PROXY), as DNS would.
    const proxy = createServer((req, res) => {
      const up = httpRequest(
        {
          host: "127.0.0.1",
          port: new URL(base).port,
          method: req.method,
          path: new URL(req.url!).pathname + new URL(req.url!).search,
          headers: req.headers,
        },
        (r) => {
          seen.push(`${req.method} ${req.headers.host}${new URL(req.url!).pathname}`);
          res.writeHead(r.statusCode!, r.headers);
          r.pipe(res);
        },
      );
      req.pipe(up);
    });
    const seen: string[] = [];
    await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
    const port = new URL(base).port;
    try {
      const out = await runSdk<Seen>(
        { apiUrl: `http://api.sbx.test:${port}`, apiKey: target.apiKey },
        `const sb = await tl.Sandbox.create({ apiUrl: env.apiUrl, apiKey: env.apiKey });
         const r = await sb.run("echo", { args: ["remote"] });
         await sb.terminate();
         return r;`,
        { HTTP_PROXY: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`, NO_PROXY: "" },
      );
      expect(out.stdout).toBe("remote");
      expect(seen[0]).toBe(`POST sandbox.sbx.test:${port}/sandboxes`);
      expect(seen.at(-1)).toMatch(new RegExp(`^DELETE sandbox\\.sbx\\.test:${port}/sandboxes/sb-`));
      expect(seen.some((l) => l.startsWith("POST ") && l.endsWith("/api/v1/processes/run"))).toBe(true);
    } finally {
      proxy.close();
    }
  });

  it("terminates, and reports unknown sandboxes as not found", async () => {
    const out = await runSdk<Seen>(
      target,
      `${connect()}
       await sb.terminate();
       const after = await tl.Sandbox.list({ apiUrl: env.apiUrl, apiKey: env.apiKey });
       let unknown; try { await (await tl.Sandbox.connect({ apiUrl: env.apiUrl, apiKey: env.apiKey, sandboxId: "sb-doesnotexist" })).info(); } catch (e) { unknown = e.constructor.name; }
       const client = new tl.SandboxClient({ apiUrl: env.apiUrl, apiKey: env.apiKey });
       const pages = [];
       let page = await client.listArchived({ limit: 1 });
       pages.push(page.sandboxes.map((s) => s.sandboxId));
       while (page.nextCursor && pages.length < 20) { page = await client.listArchived({ limit: 1, cursor: page.nextCursor }); pages.push(page.sandboxes.map((s) => s.sandboxId)); }
       const archived = await client.getArchived(${JSON.stringify(sandboxId)});
       return { ids: after.map((s) => s.sandboxId), unknown, pages, archived };`,
    );
    expect(out.ids).not.toContain(sandboxId);
    expect(out.unknown).toBe("SandboxNotFoundError");
    // One per page, following the cursors: the copies and restores ended before it are archived too.
    expect(out.pages.length).toBeGreaterThan(1);
    expect(out.pages.every((p: string[]) => p.length === 1)).toBe(true);
    expect(out.pages.flat()).toContain(sandboxId);
    expect(out.archived).toMatchObject({ sandboxId, status: "terminated" });
    expect((await admin.get(sandboxId)).status).toBe("terminated");
  });
});

function auth(): Record<string, string> {
  return { authorization: `Bearer ${target.apiKey}` };
}
