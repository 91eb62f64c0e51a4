// sbx-agent in a real sandbox through the real daemon: it is PID 1 and reaps orphans, and bad
// input to a process start (a missing command, a cwd that is a file, a uid outside the sandbox,
// stdin or a signal to a process that has ended) gets a clear coded error or the shell's exit code
// with a message, after which the sandbox keeps working.
import { beforeAll, describe, expect, it } from "vitest";
import { SbxError, type Sandbox } from "@sbx-sh/sdk";
import { useSandbox } from "./fixtures.js";

const current = useSandbox();
let sb: Sandbox;
beforeAll(() => {
  sb = current();
});

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof SbxError) return err.code;
    throw err;
  }
  throw new Error("expected an error");
}

describe("sbx-agent", () => {
  it("is the sandbox's PID 1, survives kill -9 from inside, and reaps orphans", async () => {
    expect((await sb.run("cat", { args: ["/proc/1/cmdline"] })).stdout.split("\0")[0]).toBe("/.sbx/agent");
    // PID 1 of a pid namespace gets no signal it does not handle from inside it.
    expect((await sb.run("sh", { args: ["-c", "kill -9 1; echo sent $?"] })).stdout).toBe("sent 0\n");
    // An orphan (its parent exits at once) is reaped by PID 1 when it ends: no zombie is left.
    const r = await sb.run("sh", {
      args: ["-c", "sh -c 'sleep 0.2 & exit 0'; sleep 0.6; grep -l '^State:.*Z' /proc/[0-9]*/status || echo none"],
    });
    expect(r.stdout).toBe("none\n");
  });

  it("answers bad input with coded errors, and the sandbox keeps working", async () => {
    const missing = await sb.run("no-such-command-xyz");
    expect(missing.exitCode).toBe(127);
    expect(missing.stderr).toContain("no-such-command-xyz: command not found");
    expect(await codeOf(sb.run("true", { workingDir: "/etc/passwd" }))).toBe("invalid_path");
    expect(await codeOf(sb.run("true", { workingDir: "/no/such/dir" }))).toBe("invalid_path");
    // 70000 is outside the sandbox's 65536 mapped ids.
    expect(await codeOf(sb.run("true", { user: "70000" }))).toBe("invalid_argument");
    const ended = await sb.startProcess("true", { stdin: true });
    await ended.wait();
    expect(await codeOf(ended.writeStdin("late"))).toBe("failed_precondition");
    expect(await codeOf(ended.signal("SIGTERM"))).toBe("failed_precondition");
    expect((await sb.run("echo", { args: ["still fine"] })).stdout).toBe("still fine\n");
  });

  it("runs as the asked user in the asked directory with only the given environment", async () => {
    const r = await sb.run("sh", {
      args: ["-c", 'echo "$(id -u):$(id -g) $(pwd) $FOO"'],
      user: "1000:1001",
      workingDir: "/tmp",
      env: { FOO: "bar" },
    });
    expect(r.stdout).toBe("1000:1001 /tmp bar\n");
  });
});
