// Terminals against a daemon of their own: attaching over TCP with a project's bearer token (and
// not without one, nor with another project's), and what a daemon stop does to terminals: their
// clients learn the end, their programs are gone, and the sandbox itself lives on.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sandbox, SandboxClient } from "@sbx-sh/sdk";
import { freePort, TestDaemon, waitFor } from "./harness.js";

let port = 0;
let daemon: TestDaemon;
let admin: SandboxClient;

beforeAll(async () => {
  port = await freePort();
  daemon = new TestDaemon({ name: "terminals", netIndex: 6, extraArgs: ["--listen-tcp", `127.0.0.1:${port}`] });
  await daemon.reset();
  await daemon.start();
  admin = new SandboxClient({ host: daemon.host });
});
afterAll(async () => {
  for (const project of ["default", "termtcp"]) {
    const c = new SandboxClient({ host: daemon.host, project });
    for (const s of await c.list().catch(() => [])) await c.terminate(s.id).catch(() => undefined);
  }
  await daemon.stop();
});

describe("terminals on a daemon of their own", () => {
  it("attach over TCP with the project's token, and only with it", async () => {
    await admin.createProject("termtcp");
    const { token } = await admin.createToken("termtcp");
    const tcp = new SandboxClient({ host: `http://127.0.0.1:${port}`, token });
    const sb = await Sandbox.create({ allowInternetAccess: false }, tcp);
    const t = await sb.createTerminal({
      command: "sh",
      args: ["-c", "read line; echo got-$line; exit 9"],
      cols: 80,
      rows: 24,
    });
    let text = "";
    t.onData((d) => (text += d.toString()));
    t.write("tcp\r");
    expect(await t.wait()).toBe(9);
    expect(text).toContain("got-tcp");

    const live = await sb.createTerminal({ command: "sleep", args: ["1000"], cols: 80, rows: 24 });
    await expect(
      new SandboxClient({ host: `http://127.0.0.1:${port}` }).attachTerminal(sb.id, live.id),
    ).rejects.toMatchObject({ code: "unauthenticated" });
    const { token: defaultToken } = await admin.createToken("default");
    await expect(
      new SandboxClient({ host: `http://127.0.0.1:${port}`, token: defaultToken }).attachTerminal(sb.id, live.id),
    ).rejects.toMatchObject({ code: "sandbox_not_found" });
    await live.kill();
  });

  it("a daemon stop ends its terminals; the sandbox keeps running", async () => {
    const sb = await Sandbox.create({ allowInternetAccess: false }, admin);
    const t = await sb.createTerminal({
      command: "sh",
      args: ["-c", "echo $$ > /tmp/term.pid; exec sleep 1000"],
      cols: 80,
      rows: 24,
    });
    const pid = (
      await waitFor(
        () =>
          sb.readFile("/tmp/term.pid").then(
            (b) => b.toString().trim(),
            () => "",
          ),
        30_000,
        "the program's pid",
      )
    ).trim();
    const ended = t.wait().then(
      (code) => ({ code }),
      (err: { code?: string }) => ({ error: err.code }),
    );
    await daemon.stop();
    // A clean stop kills the programs first, so attached clients still learn how they ended.
    expect(await ended).toEqual({ code: 137 });
    await daemon.start();
    const back = new SandboxClient({ host: daemon.host });
    expect((await back.get(sb.id)).status).toBe("running");
    expect(await Sandbox.connect(sb.id, back).then((s) => s.listTerminals())).toEqual([]);
    const ps = await (
      await Sandbox.connect(sb.id, back)
    ).run("sh", { args: ["-c", `[ -e /proc/${pid} ] && echo alive || echo gone`] });
    expect(ps.stdout.trim()).toBe("gone");
  });
});
