// Process retention over many starts in one sandbox, on a store and a runtime that count what they
// are asked (never time): what a sandbox keeps stays bounded, the newest processes keep their
// output and exit codes, and the work per start stays about constant however many ran before.
import { describe, expect, it } from "vitest";
import type { ProcessRecord } from "../domain/records.js";
import { ProcessRetention } from "./process-retention.js";

const SB = "sb-1";
const PAGE = 4096;

/** A sandbox's processes as the store and runtime keep them, with a tally of every call and row. */
function world(capacityBytes: number) {
  const recs: ProcessRecord[] = [];
  const files = new Map<string, { output: number; exitFile: boolean }>();
  const ops = { rows: 0, calls: 0, discards: 0, forgets: 0 };
  let clock = 0;
  /** Bytes that are not ended processes' (a running process's output, the sandbox's own files). */
  let other = 0;
  const store = {
    listProcesses: async (sandboxId: string) => {
      ops.calls++;
      ops.rows += recs.length;
      return recs.filter((r) => r.sandboxId === sandboxId).map((r) => ({ ...r }));
    },
    exitedProcessesBeyond: async (_sb: string, keep: number) => {
      ops.calls++;
      ops.rows += recs.length;
      return recs
        .slice(0, Math.max(0, recs.length - keep))
        .filter((r) => r.status === "exited")
        .map((r) => r.id);
    },
    deleteProcesses: async (_sb: string, ids: string[]) => {
      ops.calls++;
      const gone = new Set(ids);
      const before = recs.length;
      recs.splice(0, recs.length, ...recs.filter((r) => !gone.has(r.id)));
      return before - recs.length;
    },
  };
  const runtime = {
    outputUsage: async () => {
      ops.calls++;
      let bytes = other;
      for (const f of files.values()) bytes += Math.ceil(f.output / PAGE) * PAGE + (f.exitFile ? PAGE : 0);
      return Math.min(1, bytes / capacityBytes);
    },
    discardOutput: async (_sb: string, id: string) => {
      ops.discards++;
      const f = files.get(id);
      if (f) f.output = 0;
    },
    forgetProcess: async (_sb: string, id: string) => {
      ops.forgets++;
      files.delete(id);
    },
  };
  /** Runs one process to its end: `output` bytes, then an exit file (like sbx-agent's). */
  const run = (id: string, output: number): void => {
    const t = new Date(Date.UTC(2026, 0, 1) + clock++ * 1000).toISOString();
    recs.push({
      ...{ id, sandboxId: SB, command: "true", args: [], status: "exited", exitCode: 0, signal: null },
      ...{ timedOut: false, stdin: false, hostPid: null, deadline: null, startedAt: t, endedAt: t },
    });
    files.set(id, { output, exitFile: true });
  };
  return { recs, files, ops, store, runtime, run, setOther: (b: number) => (other = b) };
}

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

describe("ProcessRetention", () => {
  it("keeps a sandbox's history and log space bounded over 20000 starts, with constant work per start", async () => {
    const w = world(64 * 1024 * 1024);
    const r = new ProcessRetention(w.store, w.runtime, () => false, quiet, 1000);
    for (let i = 0; i < 20_000; i++) {
      await r.beforeStart(SB);
      w.run(`pr-${i}`, i % 10 === 0 ? 20_000 : 10); // some output, mostly a line
    }
    expect(w.recs.length).toBeLessThanOrEqual(1000 + r.checkEvery);
    expect(w.files.size).toBe(w.recs.length);
    // The newest 1000 are all there, with their output.
    expect(w.recs.slice(-1000).map((p) => p.id)).toEqual(Array.from({ length: 1000 }, (_, k) => `pr-${19_000 + k}`));
    expect(w.files.get("pr-19990")!.output).toBe(20_000);
    expect(await w.runtime.outputUsage()).toBeLessThanOrEqual(0.5);
    // About one forget per start, and rows read per start bounded by history/checkEvery (8), not by 20000.
    expect(w.ops.forgets).toBeLessThanOrEqual(20_000);
    expect(w.ops.rows / 20_000).toBeLessThanOrEqual(10);
    expect(w.ops.calls / 20_000).toBeLessThanOrEqual(2);
  });

  it("drops the oldest output down to a quarter when over half, not a process per start", async () => {
    const w = world(1024 * 1024); // 256 pages: each process below holds 9 (8 of output, 1 exit file)
    // A history whose exit files fit well under a quarter (≤ 45 pages): --process-history's advice.
    const r = new ProcessRetention(w.store, w.runtime, () => false, quiet, 40);
    for (let i = 0; i < 300; i++) {
      await r.beforeStart(SB);
      w.run(`pr-${i}`, 8 * PAGE);
      expect(await w.runtime.outputUsage()).toBeLessThanOrEqual(0.5 + 9 / 256);
    }
    // Each prune brings it to a quarter, so a prune comes every ~14 starts: each lists the
    // processes once and drops each one's output once (the watermark), never all of them again.
    expect(w.ops.discards).toBeLessThanOrEqual(300);
    expect(w.ops.rows / 300).toBeLessThanOrEqual(2 * ((40 + r.checkEvery) / r.checkEvery) + 1);
    // The newest keep their output; the oldest only their exit code.
    expect(w.files.get("pr-299")!.output).toBe(8 * PAGE);
    expect(w.files.get("pr-265")).toEqual({ output: 0, exitFile: true });
  });

  it("when what fills the log space is not ended processes' output, looks again only every history/8 starts", async () => {
    const w = world(64 * 1024 * 1024);
    const r = new ProcessRetention(w.store, w.runtime, () => false, quiet, 1000);
    for (let i = 0; i < 900; i++) w.run(`pr-${i}`, 10);
    w.setOther(40 * 1024 * 1024); // a running process's flood: 62% full whatever goes
    const rowsBefore = w.ops.rows;
    for (let i = 900; i < 3900; i++) {
      await r.beforeStart(SB);
      w.run(`pr-${i}`, 10);
    }
    // 3000 starts: a stuck prune lists ≤ 1125 rows once per 125 starts, the history check as much.
    expect((w.ops.rows - rowsBefore) / 3000).toBeLessThanOrEqual(2 * ((1000 + r.checkEvery) / r.checkEvery) + 1);
    // Each ended process's output was dropped at most once (and forgotten once).
    expect(w.ops.discards).toBeLessThanOrEqual(3900);
  });

  it("never forgets nor drops the output of a process someone is reading", async () => {
    const w = world(1024 * 1024);
    const r = new ProcessRetention(w.store, w.runtime, (id) => id === "pr-0", quiet, 8);
    for (let i = 0; i < 100; i++) {
      await r.beforeStart(SB);
      w.run(`pr-${i}`, 8 * PAGE);
    }
    expect(w.recs.map((p) => p.id)).toContain("pr-0");
    expect(w.files.get("pr-0")!.output).toBe(8 * PAGE);
    expect(w.recs.length).toBeLessThanOrEqual(1 + 8 + r.checkEvery);
  });
});
