// Processes through the real daemon: background start, live output, signals, stdin, per-command
// timeouts, and a process that keeps running when its client goes away.
import { beforeAll, describe, expect, it } from "vitest";
import { SbxError, type Sandbox } from "@sbx-sh/sdk";
import { useSandbox } from "./fixtures.js";
import { waitFor } from "./harness.js";

const current = useSandbox();
let sb: Sandbox;
beforeAll(() => {
  sb = current();
});

describe("processes", () => {
  it("streams output live, before the process ends", async () => {
    const p = await sb.startProcess("sh", { args: ["-c", "echo first; sleep 30; echo never"] });
    const seen: string[] = [];
    for await (const ev of p.output({ follow: true })) {
      if (ev.type === "stdout") {
        seen.push(ev.data.toString());
        break;
      }
    }
    expect(seen.join("")).toBe("first\n");
    expect((await p.info()).status).toBe("running");
    await p.kill();
    const r = await p.wait();
    expect(r.exitCode).toBe(137);
    expect(r.signal).toBe("SIGKILL");
  });

  it("lists processes and delivers signals the program can handle", async () => {
    const p = await sb.startProcess("sh", {
      args: ["-c", "trap 'echo got-term; exit 42' TERM; echo ready; while :; do sleep 0.1; done"],
    });
    await waitFor(
      async () => {
        for await (const ev of p.output()) if (ev.type === "stdout") return true;
        return false;
      },
      10_000,
      "ready",
    );
    expect((await sb.listProcesses()).map((x) => x.id)).toContain(p.id);
    await p.signal("SIGTERM");
    const r = await p.wait();
    expect(r.exitCode).toBe(42);
    expect(r.stdout).toContain("got-term");
  });

  it("feeds stdin and closes it", async () => {
    const p = await sb.startProcess("sh", { args: ["-c", "tr a-z A-Z; echo done"], stdin: true });
    await p.writeStdin("hello ");
    await p.writeStdin("world\n");
    await p.closeStdin();
    const r = await p.wait();
    expect(r.stdout).toBe("HELLO WORLD\ndone\n");
    expect(r.exitCode).toBe(0);
  });

  it("refuses stdin for a process started without it", async () => {
    const p = await sb.startProcess("sleep", { args: ["5"] });
    await expect(p.writeStdin("x")).rejects.toMatchObject({ code: "failed_precondition" });
    await p.kill();
  });

  it("kills a command at its timeout and says so", async () => {
    const r = await sb.run("sleep", { args: ["30"], timeout: 1 });
    expect(r.timedOut).toBe(true);
    expect(r.exitCode).toBe(137);
  });

  it("keeps a process running and its output when the client disconnects", async () => {
    const abort = new AbortController();
    const running = sb.run("sh", {
      args: ["-c", "for i in 1 2 3 4 5 6; do echo tick $i; sleep 0.2; done; exit 5"],
      signal: abort.signal,
    });
    await new Promise((r) => setTimeout(r, 300));
    abort.abort();
    await expect(running).rejects.toThrow();
    const procs = await sb.listProcesses();
    const p = procs.find((x) => x.command === "sh" && x.args.join(" ").includes("tick"))!;
    const handle = await sb.getProcess(p.id);
    const r = await handle.wait();
    expect(r.exitCode).toBe(5);
    expect(r.stdout.trim().split("\n")).toEqual(["tick 1", "tick 2", "tick 3", "tick 4", "tick 5", "tick 6"]);
  });

  it("answers unknown processes and bad signals with clear errors", async () => {
    await expect(sb.getProcess("pr-nope")).rejects.toMatchObject({ code: "process_not_found" });
    const p = await sb.startProcess("sleep", { args: ["5"] });
    await expect(p.signal("SIGBOGUS")).rejects.toBeInstanceOf(SbxError);
    await p.kill();
  });
});
