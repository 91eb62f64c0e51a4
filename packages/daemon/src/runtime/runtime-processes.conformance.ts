// The process half of the SandboxRuntime contract (./runtime.conformance.ts runs it against one
// running sandbox): output at offsets, exit codes, signals, stdin, re-attaching, and dropping what
// ended processes leave.
import { expect, it, beforeEach } from "vitest";
import type { SandboxRuntime } from "./runtime.js";
import type { ProcessHandle } from "./types.js";

type Start = (argv: string[], stdin?: boolean, id?: string) => Promise<ProcessHandle>;

/** The tests, against `ctx()`'s runtime and running sandbox (known once the suite's beforeAll ran). */
export function processesConformance(ctx: () => { rt: SandboxRuntime; main: string; start: Start }): void {
  let rt: SandboxRuntime;
  let main: string;
  let start: Start;
  beforeEach(() => ({ rt, main, start } = ctx()));
  it("starts a process and reads its output at offsets", async () => {
    const h = await start(["/bin/echo", "hello", "world"]);
    expect(await h.wait()).toBe(0);
    expect((await h.read("stdout", 0)).toString()).toBe("hello world\n");
    expect((await h.read("stdout", 6)).toString()).toBe("world\n");
    expect((await h.read("stdout", 0, 5)).toString()).toBe("hello");
    expect((await h.read("stdout", 100)).length).toBe(0);
    expect((await h.read("stderr", 0)).length).toBe(0);
    expect(await h.exitCode()).toBe(0);
  });

  it("keeps stdout and stderr apart and reports the exit code", async () => {
    const h = await start(["/bin/sh", "-c", "echo out; echo err >&2; exit 3"]);
    expect(await h.wait()).toBe(3);
    expect(await readAll(h, "stdout")).toBe("out\n");
    expect(await readAll(h, "stderr")).toBe("err\n");
  });

  it("exits 127 for a program that does not exist", async () => {
    expect(await (await start(["/no/such/program"])).wait()).toBe(127);
  });

  it("signals a running process: death by signal n is 128+n, and an ended one is not signalled", async () => {
    const h = await start(["/bin/sleep", "30"]);
    expect(await h.exitCode()).toBeUndefined();
    expect(await h.signal("SIGTERM")).toBe(true);
    expect(await h.wait()).toBe(143);
    expect(await h.signal("SIGTERM")).toBe(false);
  });

  it("stops waiting when the wait's signal aborts, and the process runs on", async () => {
    const h = await start(["/bin/sleep", "30"]);
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 50);
    expect(await h.wait(abort.signal)).toBeUndefined();
    expect(await h.exitCode()).toBeUndefined();
    await h.signal("SIGKILL");
    expect(await h.wait()).toBe(137);
  });

  it("feeds stdin and closes it", async () => {
    const h = await start(["/bin/cat"], true);
    expect(h.stdinOpen).toBe(true);
    await h.writeStdin(Buffer.from("hello "));
    await h.writeStdin(Buffer.from("world"));
    await h.closeStdin();
    expect(h.stdinOpen).toBe(false);
    expect(await h.wait()).toBe(0);
    expect(await readAll(h, "stdout")).toBe("hello world");
    await expect(h.writeStdin(Buffer.from("late"))).rejects.toMatchObject({ code: "failed_precondition" });
    await h.closeStdin();
  });

  it("refuses stdin to a process started without it", async () => {
    const h = await start(["/bin/true"]);
    expect(h.stdinOpen).toBe(false);
    await expect(h.writeStdin(Buffer.from("x"))).rejects.toMatchObject({ code: "failed_precondition" });
    await h.wait();
  });

  it("attaches to a process started earlier: output, exit and signals, but no stdin", async () => {
    const h = await start(["/bin/sh", "-c", "echo before; sleep 30"], true);
    const again = await rt.attachProcess(main, h.id);
    expect(again.id).toBe(h.id);
    expect(again.sandboxId).toBe(main);
    expect(again.stdinOpen).toBe(false);
    await until(async () => (await readAll(again, "stdout")) === "before\n", "output through the attached handle");
    expect(await again.exitCode()).toBeUndefined();
    expect(await again.signal("SIGKILL")).toBe(true);
    expect(await again.wait()).toBe(137);
    expect(await h.wait()).toBe(137);
    expect(await (await rt.attachProcess(main, h.id)).exitCode()).toBe(137);
    await h.closeStdin();
  });

  it("answers process_not_found when attaching to a process it never started", async () => {
    await expect(rt.attachProcess(main, "pr-never-started")).rejects.toMatchObject({ code: "process_not_found" });
  });

  it("reports output usage and discards an ended process's output, keeping its exit code", async () => {
    const usage = await rt.outputUsage(main);
    expect(usage).toBeGreaterThanOrEqual(0);
    expect(usage).toBeLessThanOrEqual(1);
    const h = await start(["/bin/echo", "to be discarded"]);
    expect(await h.wait()).toBe(0);
    await rt.discardOutput(main, h.id);
    expect((await h.read("stdout", 0)).length).toBe(0);
    expect(await (await rt.attachProcess(main, h.id)).exitCode()).toBe(0);
  });

  it("forgets ended processes: their output and their share of the output store go", async () => {
    const before = await rt.outputUsage(main);
    const hs: ProcessHandle[] = [];
    for (let i = 0; i < 8; i++) hs.push(await start(["/bin/echo", "y".repeat(100_000)]));
    for (const h of hs) expect(await h.wait()).toBe(0);
    expect(await rt.outputUsage(main)).toBeGreaterThan(before);
    for (const h of hs) await rt.forgetProcess(main, h.id);
    expect((await hs[0]!.read("stdout", 0)).length).toBe(0);
    // Everything they held goes (crun with sbx-agent: their exit files in the log store too).
    expect(await rt.outputUsage(main)).toBeLessThanOrEqual(before);
  });
}

async function readAll(h: ProcessHandle, stream: "stdout" | "stderr"): Promise<string> {
  const chunks: Buffer[] = [];
  for (let off = 0; ;) {
    const b = await h.read(stream, off);
    if (b.length === 0) return Buffer.concat(chunks).toString("utf8");
    chunks.push(b);
    off += b.length;
  }
}

async function until<T>(fn: () => Promise<T>, what: string, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
