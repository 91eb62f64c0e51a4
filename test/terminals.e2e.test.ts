// Terminals through the real daemon: size from the start, resize seen inside (SIGWINCH), Ctrl-C,
// exit codes, detach and re-attach with the output made while detached, terminate ending the
// terminal, project isolation, and bad input.
import { readdirSync, readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { SandboxClient, type Sandbox, type Terminal } from "@sbx-sh/sdk";
import { sharedClient, useSandbox, useSandboxes } from "./fixtures.js";
import { waitFor } from "./harness.js";

const current = useSandbox();
const create = useSandboxes();
let sb: Sandbox;
beforeAll(() => {
  sb = current();
});

/**
 * Everything the terminal printed, and a way to wait for a pattern in it. The terminal echoes what
 * is typed, so commands quote their markers (`echo A-"B"`) to tell their output from their echo.
 */
function screen(t: Terminal): { text: () => string; until: (re: RegExp, what?: string) => Promise<RegExpMatchArray> } {
  let text = "";
  t.onData((d) => (text += d.toString("utf8")));
  return {
    text: () => text,
    until: (re, what) =>
      waitFor(() => re.exec(text), 30_000, `${what ?? re}`).catch((err: Error) => {
        throw new Error(`${err.message}; the terminal printed:\n${JSON.stringify(text.slice(-2000))}`);
      }),
  };
}

/** Host processes whose command line mentions `word` (crun relays, programs). */
function hostProcessesWith(word: string): number[] {
  const pids: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, "utf8").includes(word)) pids.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

describe("terminals", () => {
  it("starts at the requested size and follows resizes (the program gets SIGWINCH)", async () => {
    const t = await sb.createTerminal({ cols: 91, rows: 27 });
    const s = screen(t);
    t.write('stty size; echo SIZE-"OK"\r');
    await s.until(/27 91\r\nSIZE-OK/);
    t.write("trap 'echo WINCH $(stty size)' WINCH; echo TRAP-\"SET\"\r");
    await s.until(/TRAP-SET\r\n/);
    t.resize(120, 40);
    await s.until(/WINCH 40 120/);
    expect((await t.info()).cols).toBe(120);
    // The REST route does the same for a client that is not attached.
    await sb.client.transport.json("POST", `/v1/sandboxes/${sb.id}/terminals/${t.id}/resize`, {
      json: { cols: 50, rows: 10 },
    });
    await s.until(/WINCH 10 50/);
    t.write("exit\r");
    expect(await t.wait()).toBe(0);
  });

  it("passes Ctrl-C through to the program; the shell goes on", async () => {
    const t = await sb.createTerminal({ cols: 80, rows: 24 });
    const s = screen(t);
    t.write("sleep 100\r");
    await waitFor(
      async () =>
        (await sb.run("sh", { args: ["-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '"] })).stdout.includes("sleep 100"),
      30_000,
      "sleep running",
    );
    const sent = Date.now();
    t.write("\x03");
    t.write("echo alive-$?\r");
    await s.until(/alive-130/);
    console.log(`Ctrl-C to shell prompt: ${Date.now() - sent} ms`);
    t.write("exit 5\r");
    expect(await t.wait()).toBe(5);
  });

  it("answers the program's exit code, after all its output", async () => {
    const t = await sb.createTerminal({ command: "sh", args: ["-c", "echo bye-from-tty; exit 7"], cols: 80, rows: 24 });
    const s = screen(t);
    expect(await t.wait()).toBe(7);
    expect(s.text()).toContain("bye-from-tty");
    const info = await t.info();
    expect(info).toMatchObject({ status: "exited", exitCode: 7 });
    // A late attach still learns how it ended (and sees the output).
    const late = await sb.client.attachTerminal(sb.id, t.id);
    const ls = screen(late);
    expect(await late.wait()).toBe(7);
    expect(ls.text()).toContain("bye-from-tty");
  });

  it("runs commands as the requested user, in the requested directory, with the requested env", async () => {
    const t = await sb.createTerminal({
      command: "sh",
      args: ["-c", 'echo "$(id -u) $(pwd) $GREETING $TERM"; [ -t 0 ] && echo IS-A-TTY'],
      cols: 80,
      rows: 24,
      user: "1000",
      workingDir: "/tmp",
      env: { GREETING: "hi" },
    });
    const s = screen(t);
    expect(await t.wait()).toBe(0);
    expect(s.text()).toContain("1000 /tmp hi xterm-256color");
    expect(s.text()).toContain("IS-A-TTY");
  });

  it("survives a detach; attaching again replays what was printed meanwhile", async () => {
    await sb.deleteFile("/tmp/go").catch(() => undefined);
    const t = await sb.createTerminal({ cols: 80, rows: 24 });
    const s = screen(t);
    t.write('while [ ! -e /tmp/go ]; do sleep 0.1; done; echo produced-while-"detached"; touch /tmp/printed\r');
    // The echo of the whole line (readline may redraw it on the way): the shell has accepted it.
    await s.until(/touch \/tmp\/printed\r\n/);
    await t.detach();
    await expect(t.wait()).rejects.toMatchObject({ code: "failed_precondition" });
    await waitFor(async () => (await t.info()).attached === 0, 10_000, "detached on the daemon");
    await sb.writeFile("/tmp/go", "");
    await waitFor(
      () =>
        sb.readFile("/tmp/printed").then(
          () => true,
          () => false,
        ),
      30_000,
      "output made while detached",
    );
    expect((await sb.listTerminals()).find((x) => x.id === t.id)?.status).toBe("running");

    const again = await sharedClient().attachTerminal(sb.id, t.id);
    const s2 = screen(again);
    await s2.until(/produced-while-detached\r\n/);
    again.write("exit 3\r");
    expect(await again.wait()).toBe(3);
  });

  it("ends the terminals of a sandbox that is terminated", async () => {
    const other = await create();
    const t = await other.createTerminal({ cols: 80, rows: 24 });
    const s = screen(t);
    t.write('echo ready-to-"die"\r');
    await s.until(/ready-to-die/);
    // sbx-agent runs the terminal inside the sandbox: no host process per terminal, before or after.
    expect(hostProcessesWith(other.id)).toEqual([]);
    await other.terminate();
    expect(await t.wait()).toBe(137);
    await waitFor(() => hostProcessesWith(other.id).length === 0, 10_000, "no host process left for the sandbox");
  });

  it("replays at most the last 64 KiB on attach, ending with the newest output", async () => {
    // ~200 KiB of numbered lines, then a marker.
    const t = await sb.createTerminal({
      command: "sh",
      args: ["-c", "seq 1 40000; echo END-OF-FLOOD; exec sleep 1000"],
      cols: 80,
      rows: 24,
    });
    const s = screen(t);
    await s.until(/END-OF-FLOOD/);
    await t.detach();
    const again = await sharedClient().attachTerminal(sb.id, t.id);
    let replay = Buffer.alloc(0);
    again.onData((d) => (replay = Buffer.concat([replay, d])));
    await waitFor(() => replay.includes("END-OF-FLOOD"), 30_000, "the replay");
    expect(replay.length).toBeLessThanOrEqual(64 * 1024);
    expect(replay.length).toBeGreaterThan(60 * 1024);
    expect(replay.toString()).toContain("39999\r\n40000\r\nEND-OF-FLOOD");
    expect(replay.toString()).not.toContain("\r\n100\r\n");
    await again.kill();
  });

  it("limits the terminals of one sandbox", async () => {
    const box = await create();
    const open: Terminal[] = [];
    for (let i = 0; i < 16; i++)
      open.push(await box.createTerminal({ command: "sleep", args: ["1000"], cols: 80, rows: 24 }));
    await expect(box.createTerminal({ cols: 80, rows: 24 })).rejects.toMatchObject({ code: "failed_precondition" });
    await open[0]!.kill();
    const one = await box.createTerminal({ command: "sleep", args: ["1000"], cols: 80, rows: 24 });
    await box.terminate();
    expect(await one.wait()).toBe(137);
  });

  it("kills a terminal on request", async () => {
    const t = await sb.createTerminal({ command: "sleep", args: ["1000"], cols: 80, rows: 24 });
    const killed = await t.kill();
    expect(killed).toMatchObject({ status: "exited", exitCode: 137 });
    expect(await t.wait()).toBe(137);
  });

  it("keeps terminals to their project", async () => {
    const t = await sb.createTerminal({ cols: 80, rows: 24 });
    await sharedClient()
      .createProject("termother")
      .catch(() => undefined);
    const other = new SandboxClient({ host: sharedClient().config.host, project: "termother" });
    await expect(other.attachTerminal(sb.id, t.id)).rejects.toMatchObject({ code: "sandbox_not_found" });
    await expect(other.transport.json("GET", `/v1/sandboxes/${sb.id}/terminals`)).rejects.toMatchObject({
      code: "sandbox_not_found",
    });
    await expect(other.transport.json("DELETE", `/v1/sandboxes/${sb.id}/terminals/${t.id}`)).rejects.toMatchObject({
      code: "sandbox_not_found",
    });
    // Another sandbox of the same project does not have it either.
    const second = await create();
    await expect(sharedClient().attachTerminal(second.id, t.id)).rejects.toMatchObject({ code: "terminal_not_found" });
    expect((await t.info()).status).toBe("running");
    await t.kill();
  });

  it("refuses bad input with stable codes", async () => {
    const tr = sb.client.transport;
    const post = (body: unknown, id = sb.id) => tr.json("POST", `/v1/sandboxes/${id}/terminals`, { json: body });
    await expect(post({ cols: 80, rows: 24 }, "sb-doesnotexist")).rejects.toMatchObject({ code: "sandbox_not_found" });
    await expect(post({ cols: 0, rows: 24 })).rejects.toMatchObject({ code: "out_of_range" });
    await expect(post({ cols: 80, rows: 100000 })).rejects.toMatchObject({ code: "out_of_range" });
    await expect(post({ cols: 80.5, rows: 24 })).rejects.toMatchObject({ code: "invalid_argument" });
    await expect(post({ rows: 24 })).rejects.toMatchObject({ code: "invalid_argument" });
    await expect(post({ cols: 80, rows: 24, workingDir: "relative" })).rejects.toMatchObject({ code: "invalid_path" });
    await expect(post({ cols: 80, rows: 24, user: "nosuchuser" })).rejects.toMatchObject({ code: "invalid_argument" });
    await expect(sharedClient().attachTerminal(sb.id, "tm-nope")).rejects.toMatchObject({ code: "terminal_not_found" });
    await expect(tr.json("GET", `/v1/sandboxes/${sb.id}/terminals/tm-nope/attach`)).rejects.toMatchObject({
      code: "terminal_not_found",
    });

    const t = await sb.createTerminal({ cols: 80, rows: 24 });
    await expect(tr.json("GET", `/v1/sandboxes/${sb.id}/terminals/${t.id}/attach`)).rejects.toMatchObject({
      code: "invalid_argument",
      message: expect.stringMatching(/WebSocket endpoint/),
    });
    await expect(
      tr.json("POST", `/v1/sandboxes/${sb.id}/terminals/${t.id}/resize`, { json: { cols: 5000, rows: 1 } }),
    ).rejects.toMatchObject({ code: "out_of_range" });
    // A bad control message over the socket is answered, and the session goes on.
    const s = screen(t);
    t.resize(0, 0);
    t.write('echo still-"here"\r');
    await s.until(/still-here/);
    expect((await t.info()).cols).toBe(80);
    await t.kill();
    expect(await sb.listTerminals().then((l) => l.every((x) => x.id !== t.id || x.status === "exited"))).toBe(true);
  });
});
