// `sbx exec -it`, `sbx shell` and `sbx terminals` as a user runs them: the CLI itself on a real
// pseudo-terminal (node-pty), so raw mode, window size, SIGWINCH, Ctrl-C, detach and exit codes
// are the real thing; and the clear refusal when stdin is not a terminal.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { spawn, type IPty } from "node-pty";
import { beforeAll, describe, expect, inject, it } from "vitest";
import type { Sandbox } from "@sbx-sh/sdk";
import { useSandbox } from "./fixtures.js";
import { REPO, waitFor } from "./harness.js";

const host = inject("sbxHost");
const SBX = join(REPO, "packages", "cli", "bin", "sbx.js");
const current = useSandbox();
let sb: Sandbox;
beforeAll(() => {
  sb = current();
});

interface Session {
  pty: IPty;
  text: () => string;
  until: (re: RegExp) => Promise<RegExpMatchArray>;
  exit: Promise<number>;
}

/** The CLI on a pty of cols x rows, as if typed into a terminal window. */
function cli(args: string[], cols: number, rows: number): Session {
  const pty = spawn(process.execPath, [SBX, ...args], {
    cols,
    rows,
    cwd: REPO,
    env: { ...process.env, SBX_HOST: host, TERM: "xterm-256color" } as Record<string, string>,
  });
  let text = "";
  pty.onData((d) => (text += d));
  const exit = new Promise<number>((resolve) => pty.onExit(({ exitCode }) => resolve(exitCode)));
  return {
    pty,
    text: () => text,
    until: (re) =>
      waitFor(() => re.exec(text), 60_000, String(re)).catch((err: Error) => {
        throw new Error(`${err.message}; the CLI printed:\n${JSON.stringify(text.slice(-2000))}`);
      }),
    exit,
  };
}

describe("sbx exec -t / sbx shell", () => {
  it("exec -it: local size from the start, resize, Ctrl-C, and the exit code", async () => {
    const s = cli(["exec", "-it", sb.id, "--", "bash"], 77, 21);
    s.pty.write('stty size; echo SIZE-"OK"\r');
    await s.until(/21 77\r\nSIZE-OK/);
    s.pty.write("trap 'echo WINCH $(stty size)' WINCH; echo TRAP-\"SET\"\r");
    await s.until(/TRAP-SET\r\n/);
    s.pty.resize(103, 31);
    await s.until(/WINCH 31 103/);
    s.pty.write("sleep 100\r");
    await waitFor(
      async () =>
        (await sb.run("sh", { args: ["-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '"] })).stdout.includes("sleep 100"),
      30_000,
      "sleep running",
    );
    s.pty.write("\x03");
    s.pty.write("echo alive-$?\r");
    await s.until(/alive-130/);
    s.pty.write("exit 7\r");
    expect(await s.exit).toBe(7);
  });

  it("shell: Ctrl-] d detaches, --attach comes back to the same terminal with its output", async () => {
    const s = cli(["shell", sb.id], 80, 24);
    s.pty.write('echo before-"detach"; export MARK=kept\r');
    await s.until(/before-detach\r\n/);
    s.pty.write("\x1dd");
    expect(await s.exit).toBe(0);
    const tid = (await s.until(/--attach (tm-[a-z0-9]+)/))[1]!;
    expect((await sb.listTerminals()).find((t) => t.id === tid)?.status).toBe("running");

    const listed = spawnSync(process.execPath, [SBX, "terminals", "-q", sb.id], {
      env: { ...process.env, SBX_HOST: host },
      encoding: "utf8",
    });
    expect(listed.stdout.split("\n")).toContain(tid);

    const back = cli(["shell", sb.id, "--attach", tid], 80, 24);
    await back.until(/before-detach\r\n/);
    back.pty.write("echo mark-$MARK\r");
    await back.until(/mark-kept/);
    back.pty.write("exit 4\r");
    expect(await back.exit).toBe(4);
  });

  it("refuses -it and shell when stdin is not a terminal, saying why", () => {
    for (const args of [
      ["exec", "-it", sb.id, "--", "sh"],
      ["shell", sb.id],
    ]) {
      const r = spawnSync(process.execPath, [SBX, ...args], {
        env: { ...process.env, SBX_HOST: host },
        input: "echo hi\n",
        encoding: "utf8",
      });
      expect(r.status).toBe(125);
      expect(r.stderr).toMatch(/stdin is not a TTY/);
    }
  });
});
