// What a sandbox keeps of its ended processes, through a real daemon with small limits so that a
// few hundred processes cross them several times (--process-history 40, a 2 MiB log tmpfs): the
// newest processes keep output and exit codes, older ones are forgotten with all their files (the
// log tmpfs does not fill with sbx-agent's exit files), and output pruning is rare and drops each
// process's output once, instead of going over every past process at every start. Terminals leave
// no exit file behind either.
import { readdirSync, statfsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sandbox, SandboxClient } from "@sbx-sh/sdk";
import { TestDaemon, waitFor } from "./harness.js";

const HISTORY = 40;
const daemon = new TestDaemon({
  name: "retention",
  netIndex: 5,
  extraArgs: ["--warm-pool", "0", "--process-history", String(HISTORY), "--sandbox-logs-mb", "2"],
});
let client: SandboxClient;
let sb: Sandbox;

beforeAll(async () => {
  await daemon.reset();
  await daemon.start();
  client = new SandboxClient({ host: daemon.host });
  sb = await Sandbox.create({ allowInternetAccess: false }, client);
});
afterAll(async () => {
  await sb?.terminate().catch(() => undefined);
  await daemon.stop();
});

const logsDir = (): string => join(daemon.root, "data", "sandboxes", sb.id, "logs");
const logsUsage = (): number => {
  const s = statfsSync(logsDir());
  return 1 - s.bfree / s.blocks;
};
/** The daemon's output-prune lines (pino JSON): how many prunes, and how many outputs each dropped. */
const prunes = (): number[] =>
  daemon.log
    .split("\n")
    .filter((l) => l.includes("dropped the oldest exited processes' output") && l.includes(sb.id))
    .map((l) => (JSON.parse(l) as { pruned: number }).pruned);

describe("process retention", () => {
  it("keeps the newest processes and forgets older ones with all their files", async () => {
    const first = await sb.startProcess("sh", { args: ["-c", "echo first; exit 3"] });
    expect((await first.wait()).exitCode).toBe(3);
    for (let i = 0; i < 300; i++) expect((await sb.run("true")).exitCode).toBe(0);
    const last = await sb.startProcess("sh", { args: ["-c", "echo last; exit 4"] });
    const r = await last.wait();
    expect(r).toMatchObject({ exitCode: 4, stdout: "last\n" });

    const listed = await sb.listProcesses();
    expect(listed.length).toBeGreaterThanOrEqual(HISTORY);
    expect(listed.length).toBeLessThanOrEqual(HISTORY + Math.ceil(HISTORY / 8) + 1);
    await expect(sb.getProcess(first.id)).rejects.toMatchObject({ code: "process_not_found" });
    expect(await (await sb.getProcess(last.id)).info()).toMatchObject({ exitCode: 4 });
    // The log tmpfs holds files of the listed processes only (.out, .err, sbx-agent's .exit).
    expect(readdirSync(logsDir()).length).toBeLessThanOrEqual(3 * listed.length);
    expect(prunes()).toEqual([]);
  });

  it("prunes output rarely, down to a quarter, each process's once; the newest output survives", async () => {
    // 64 KiB each: a 2 MiB log space is over half full after ~16 of them.
    const ids: string[] = [];
    for (let i = 0; i < 80; i++) {
      const p = await sb.startProcess("sh", { args: ["-c", `head -c 65536 /dev/zero | tr '\\0' x; exit ${i % 7}`] });
      const r = await p.wait();
      expect(r.stdout.length).toBe(65536);
      ids.push(p.id);
      expect(logsUsage()).toBeLessThanOrEqual(0.5 + 0.05);
    }
    const counts = prunes();
    // Pruning to a quarter frees ~8 processes' worth each time: a prune every ~8 starts, not one
    // per start, and no prune walks every past process again (each output goes once).
    expect(counts.length).toBeGreaterThanOrEqual(3);
    expect(counts.length).toBeLessThanOrEqual(80 / 4);
    expect(counts.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(80 + HISTORY);
    // The newest keeps its output; an older listed one keeps its exit code without its output.
    const newest = await sb.getProcess(ids.at(-1)!);
    expect((await newest.wait()).stdout.length).toBe(65536);
    const older = await sb.getProcess(ids.at(-30)!);
    const o = await older.wait();
    expect(o).toMatchObject({ exitCode: (80 - 30) % 7, stdout: "" });
  });

  it("leaves no exit file of a terminal once it has ended, by itself or killed", async () => {
    const ended = await sb.createTerminal({ command: "sh", args: ["-c", "exit 5"], cols: 80, rows: 24 });
    expect(await ended.wait()).toBe(5);
    const killed = await sb.createTerminal({ command: "sleep", args: ["1000"], cols: 80, rows: 24 });
    expect((await killed.kill()).exitCode).toBe(137);
    const left = () => readdirSync(logsDir()).filter((f) => f.startsWith(ended.id) || f.startsWith(killed.id));
    await waitFor(() => left().length === 0, 10_000, "the terminals' exit files to go").catch(() => undefined);
    expect(left()).toEqual([]);
    // The daemon still says how each ended.
    expect(await sb.client.transport.json("GET", `/v1/sandboxes/${sb.id}/terminals/${ended.id}`)).toMatchObject({
      status: "exited",
      exitCode: 5,
    });
  });
});
