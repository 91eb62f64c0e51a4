// runCommand: exit codes, input, time limits and the stdout cap that protects the daemon's memory;
// startCommand: input written while the program runs, output read as it comes.
import { describe, expect, it } from "vitest";
import { mustRun, runCommand, startCommand } from "./command.js";
import { toSbxError } from "@sbx-sh/protocol";

describe("runCommand", () => {
  it("returns the exit code and both streams without throwing", async () => {
    const r = await runCommand("sh", ["-c", "echo out; echo err >&2; exit 4"]);
    expect(r).toMatchObject({ code: 4, stderr: "err\n" });
    expect(r.stdout.toString()).toBe("out\n");
  });

  it("feeds input, and survives a program that never reads it", async () => {
    expect((await runCommand("tr", ["a-z", "A-Z"], { input: "abc" })).stdout.toString()).toBe("ABC");
    expect((await runCommand("true", [], { input: Buffer.alloc(1 << 20) })).code).toBe(0);
  });

  it("kills a program that prints more than the cap and says so", async () => {
    const r = await runCommand("yes", [], { maxStdoutBytes: 100_000 });
    expect(r.overflow).toBe(true);
    expect(r.stdout.length).toBeLessThanOrEqual(100_000);
  });

  it("kills a program at its time limit", async () => {
    const r = await runCommand("sleep", ["10"], { timeoutMs: 100 });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("killed by SIGKILL");
  });

  it("mustRun says no_space when the program ran out of disk", async () => {
    await expect(
      mustRun("sh", ["-c", "echo 'cp: error writing x: No space left on device' >&2; exit 1"]),
    ).rejects.toMatchObject({ code: "no_space" });
  });

  it("toSbxError turns Node's ENOSPC and SQLite's SQLITE_FULL into no_space, and nothing else", () => {
    expect(
      toSbxError(Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" })).code,
    ).toBe("no_space");
    expect(toSbxError(Object.assign(new Error("database or disk is full"), { code: "SQLITE_FULL" })).code).toBe(
      "no_space",
    );
    expect(toSbxError(new Error("something else")).code).toBe("internal");
  });

  it("mustRun throws a runtime_error with the program's stderr", async () => {
    await expect(mustRun("sh", ["-c", "echo broken >&2; exit 2"])).rejects.toMatchObject({
      code: "runtime_error",
      message: expect.stringContaining("broken"),
    });
  });
});

describe("startCommand", () => {
  it("takes input written while it runs and streams its output", async () => {
    const tr = startCommand("tr", ["a-z", "A-Z"], { stdout: true });
    const out: Buffer[] = [];
    tr.stdout!.on("data", (b: Buffer) => out.push(b));
    for (const chunk of ["abc", "def"]) tr.stdin.write(chunk);
    tr.stdin.end();
    expect(await tr.done).toEqual({ code: 0, stderr: "" });
    expect(Buffer.concat(out).toString()).toBe("ABCDEF");
  });

  it("reports the exit code and the end of stderr, survives a program that stops reading, and can kill", async () => {
    const sh = startCommand("sh", ["-c", "head -c 1 >/dev/null; echo broken >&2; exit 3"]);
    sh.stdin.write(Buffer.alloc(1 << 20));
    sh.stdin.end();
    expect(await sh.done).toEqual({ code: 3, stderr: "broken\n" });
    const sleeper = startCommand("sleep", ["10"]);
    sleeper.kill();
    expect((await sleeper.done).code).toBe(128);
    await expect(startCommand("/nonexistent/program", []).done).rejects.toThrow(/cannot run/);
  });
});
