// The supervisor's output files on a real size-capped tmpfs (needs root): how full the logs are,
// and discarding one process's output without touching anything else.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cgroupsName, discardOutput, logsUsage, processExists, processFiles } from "./process-supervisor.js";

const isRoot = process.getuid?.() === 0;

describe.skipIf(!isRoot)("supervisor output files on a real 1 MiB tmpfs (needs root)", () => {
  const dir = mkdtempSync(join(tmpdir(), "sbx-logs-"));
  const logs = join(dir, "logs");
  const state = join(dir, "state");
  beforeAll(() => {
    for (const d of [logs, state]) spawnSync("mkdir", ["-p", d]);
    expect(spawnSync("mount", ["-t", "tmpfs", "-o", "size=1m", "sbx-logs-test", logs]).status).toBe(0);
  });
  afterAll(() => {
    spawnSync("umount", [logs]);
    rmSync(dir, { recursive: true, force: true });
  });

  const fill = (path: string, kib: number): void => writeFileSync(path, Buffer.alloc(kib * 1024));

  it("reports how full the logs are and discards one process's output, keeping its exit code", async () => {
    const a = processFiles(logs, state, "pr-a");
    const b = processFiles(logs, state, "pr-b");
    fill(a.stdout, 300);
    fill(a.stderr, 100);
    fill(b.stdout, 200);
    writeFileSync(a.exit, "0\n");
    expect(await logsUsage(logs)).toBeGreaterThan(0.5);
    await discardOutput(a);
    expect([existsSync(a.stdout), existsSync(a.stderr), existsSync(b.stdout)]).toEqual([false, false, true]);
    expect(processExists(a)).toBe(true);
    expect(await logsUsage(logs)).toBeLessThanOrEqual(0.5);
  });

  it("refuses process ids that would be paths of their own", () => {
    expect(() => processFiles(logs, state, "../escape")).toThrow(/invalid process id/);
  });
});

describe("cgroupsName (pidBelongsTo)", () => {
  it("finds the sandbox's id as a whole path component under any cgroup parent, v1 and v2", () => {
    const v1 = "12:pids:/sbx-test3-n1/sb-abc123\n4:memory:/sbx-test3-n1/sb-abc123\n1:name=systemd:/user.slice\n";
    expect(cgroupsName(v1, "sb-abc123")).toBe(true);
    expect(cgroupsName("0::/sbx/sb-abc123/agent\n", "sb-abc123")).toBe(true);
    expect(cgroupsName("0::/fleet/n2/sb-abc123\n", "sb-abc123")).toBe(true);
    // Another sandbox whose id only starts or ends the same, or a process elsewhere: not it.
    expect(cgroupsName("0::/sbx/sb-abc1234\n", "sb-abc123")).toBe(false);
    expect(cgroupsName("0::/sbx/x-sb-abc123\n", "sb-abc123")).toBe(false);
    expect(cgroupsName("1:name=systemd:/user.slice\n0::/\n", "sb-abc123")).toBe(false);
    expect(cgroupsName("", "sb-abc123")).toBe(false);
  });
});
