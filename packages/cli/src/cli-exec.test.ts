// `sbx exec` and `sbx run` against sbxd on the fake runtime: the command's own exit code (125 for
// sbx's failures, 137 for a timeout kill), process flags, and, in real child processes, stdin
// pumping, SIGPIPE when the reader goes and Ctrl-C forwarding.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { TestDaemon } from "../../daemon/src/testing/test-daemon.js";
import { runCliCaptured, type CliResult } from "./testing/capture.js";

let fake: TestDaemon;
const root = fileURLToPath(new URL("../../..", import.meta.url));

beforeAll(async () => {
  fake = await TestDaemon.start({ baseImages: ["debian-minimal", "alpine"] });
});
afterAll(() => fake.stop());
afterEach(() => vi.restoreAllMocks());

const sbx = (...args: string[]): Promise<CliResult> => runCliCaptured(fake.host, args);

/** Runs the CLI as a child process (sources via tsx). */
function spawnSbx(
  args: string[],
  opts: { stdin?: string; onSpawn?: (kill: (sig: NodeJS.Signals) => void, stderr: () => string) => void } = {},
) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", join(root, "packages/cli/src/testing/run-cli.ts"), "--host", fake.host, ...args],
      { cwd: root },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d));
    child.stderr.on("data", (d: Buffer) => (stderr += d));
    if (opts.stdin !== undefined) child.stdin.end(opts.stdin);
    opts.onSpawn?.(
      (sig) => child.kill(sig),
      () => stderr,
    );
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** The sandbox created last (the runtime saw its create), as the daemon has it now. */
const lastSandbox = () => {
  const id = fake.runtime.calls
    .filter((c) => c.startsWith("create sb-"))
    .at(-1)!
    .slice("create ".length);
  return fake.services.sandboxes.get("default", id);
};

/** The sandbox's processes running `command`, newest last. */
const processesOf = async (sandboxId: string, command: string) =>
  (await fake.services.processes.list("default", sandboxId)).filter((p) => p.command === command);

describe("sbx exec / run", () => {
  let id: string;
  beforeAll(async () => {
    id = (await sbx("new", "-q")).stdout.trim();
  });

  it("streams output and exits with the command's code", async () => {
    expect(await sbx("exec", id, "--", "echo", "hi", "there")).toEqual({ code: 0, stdout: "hi there\n", stderr: "" });
    expect(await sbx("exec", id, "fail", "7")).toEqual({ code: 7, stdout: "", stderr: "oops\n" });
    fake.sliceResponses = 3;
    const split = await sbx("exec", id, "--", "split").finally(() => (fake.sliceResponses = undefined));
    expect(split).toMatchObject({ code: 3, stdout: "héllo wörld € end\n", stderr: "warn ✓\n" });
  });

  it("passes process flags and reports a timeout kill as 137", async () => {
    const r = await sbx(
      "exec",
      "-e",
      "K=v",
      "-w",
      "/tmp",
      "-u",
      "1000",
      "--timeout",
      "5",
      id,
      "--",
      "show-request",
      "-x",
      "--json",
    );
    expect(JSON.parse(fake.requests.filter((q) => q.url.endsWith("/exec")).at(-1)!.body)).toEqual({
      command: "show-request",
      args: ["-x", "--json"],
      env: { K: "v" },
      workingDir: "/tmp",
      user: "1000",
      timeoutSecs: 5,
    });
    expect(JSON.parse(r.stdout)).toMatchObject({ argv: ["show-request", "-x", "--json"], cwd: "/tmp" });
    const t = await sbx("exec", "--timeout", "1", id, "--", "wait-for-signal");
    expect(t.code).toBe(137);
    expect(t.stderr).toContain("killed after its 1s timeout");
  });

  it("exits 125 when sbx itself fails", async () => {
    expect((await sbx("exec", "ghost", "--", "echo")).code).toBe(125);
    expect((await sbx("exec", id, "--")).code).toBe(125);
    const usage = await sbx("exec", id);
    expect(usage.code).toBe(125);
    expect(usage.stderr).toContain("missing required argument");
  });

  it("run creates, runs and terminates, with the command's exit code", async () => {
    const r = await sbx("run", "--image", "alpine", "--", "fail", "4");
    expect(r).toMatchObject({ code: 4, stderr: "oops\n" });
    const created = await lastSandbox();
    expect(created.image).toBe("alpine");
    expect(created.status).toBe("terminated");
    const kept = await sbx("run", "--keep", "--", "echo", "k");
    expect(kept.code).toBe(0);
    expect((await lastSandbox()).status).toBe("running");
  });

  it("pumps stdin with -i and closes it at EOF", async () => {
    const r = await spawnSbx(["exec", "-i", id, "--", "cat"], { stdin: "line one\nline two\n" });
    expect(r).toMatchObject({ code: 0, stdout: "line one\nline two\n" });
    const posts = fake.requests.filter((q) => q.url.endsWith("/stdin"));
    expect(posts.at(-1)!.method).toBe("DELETE");
  }, 20_000);

  it("exits 141 when its reader goes away, sending SIGPIPE to exec'd commands and terminating run's sandbox", async () => {
    const closeEarly = (args: string[]) =>
      new Promise<number | null>((resolve) => {
        const child = spawn(
          process.execPath,
          ["--import", "tsx", join(root, "packages/cli/src/testing/run-cli.ts"), "--host", fake.host, ...args],
          { cwd: root },
        );
        child.stdout.once("data", () => child.stdout.destroy());
        child.on("close", (code) => resolve(code));
      });
    expect(await closeEarly(["exec", id, "--", "yes"])).toBe(141);
    // The signal was sent before sbx exited; the process ends (and is recorded) just after.
    await vi.waitFor(
      async () => expect((await processesOf(id, "yes")).at(-1)).toMatchObject({ status: "exited", signal: "SIGPIPE" }),
      { timeout: 5000 },
    );
    expect(await closeEarly(["run", "--", "yes"])).toBe(141);
    expect((await lastSandbox()).status).toBe("terminated");
  }, 20_000);

  it("forwards Ctrl-C to the command as SIGINT and exits 130", async () => {
    const r = await spawnSbx(["exec", id, "--", "wait-for-signal"], {
      onSpawn: (kill) => {
        const started = setInterval(() => {
          void processesOf(id, "wait-for-signal").then((ps) => {
            if (ps.some((p) => p.status === "running") && fake.requests.at(-1)?.url.endsWith("/exec")) {
              clearInterval(started);
              kill("SIGINT");
            }
          });
        }, 50);
      },
    });
    expect(r.code).toBe(130);
    expect(r.stderr).toContain("got SIGINT");
    expect(fake.requests.some((q) => q.url.endsWith("/signal") && q.body.includes("SIGINT"))).toBe(true);
  }, 20_000);
});
